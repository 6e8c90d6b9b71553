// Matrix cell: fairway portal, JS ssb-tunnel 2.0.0 host, JS ssb-tunnel 2.0.0 client.
'use strict'
require('./cells').defineCell('portal fairway | host ssb-tunnel | client ssb-tunnel',
  { tag: 'fw-jt-jt', portal: 'fairway', host: 'ssb-tunnel', client: 'ssb-tunnel' })
