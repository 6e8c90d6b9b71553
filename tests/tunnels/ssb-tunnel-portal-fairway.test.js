// Matrix cell: JS ssb-tunnel 2.0.0 portal, fairway host, fairway client.
'use strict'
require('./cells').defineCell('portal ssb-tunnel | host fairway | client fairway',
  { tag: 'jt-fw-fw', portal: 'ssb-tunnel', host: 'fairway', client: 'fairway' })
