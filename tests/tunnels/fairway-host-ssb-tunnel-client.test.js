// Matrix cell: fairway portal, fairway host, JS ssb-tunnel 2.0.0 client.
'use strict'
require('./cells').defineCell('portal fairway | host fairway | client ssb-tunnel',
  { tag: 'fw-fw-jt', portal: 'fairway', host: 'fairway', client: 'ssb-tunnel' })
