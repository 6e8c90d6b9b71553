// Matrix cell: fairway portal, fairway host, fairway client.
'use strict'
require('./cells').defineCell('portal fairway | host fairway | client fairway',
  { tag: 'fw-fw-fw', portal: 'fairway', host: 'fairway', client: 'fairway' })
