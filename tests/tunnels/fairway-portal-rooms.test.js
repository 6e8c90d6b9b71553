// Matrix cell: fairway portal, JS ssb-room-client 2.0.2 host and client
// (secret-stack 6.4.1 + ssb-conn 6.0.4, what Manyverse runs).
'use strict'
require('./cells').defineCell('portal fairway | host ssb-room-client | client ssb-room-client',
  { tag: 'fw-room-room', portal: 'fairway', host: 'room', client: 'room' })
