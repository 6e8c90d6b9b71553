// Matrix cell: fairway portal shaped to 20 mbit, JS ssb-tunnel 2.0.0 host
// and client. The shaped portal cuts relayed items into pieces of ~1 ms of
// its link; the JS ends must see one unbroken byte stream (sha256).
'use strict'
require('./cells').defineCell('portal fairway 20 mbit | host ssb-tunnel | client ssb-tunnel',
  { tag: 'fw20-jt-jt', portal: 'fairway-shaped', host: 'ssb-tunnel', client: 'ssb-tunnel' })
