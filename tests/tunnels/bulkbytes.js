// The bytes every bulk transfer of the tunnel tests sends: an AES-256-CTR
// keystream (fixed key, IV 0), so a receiver can check that what arrived is
// a byte-exact prefix of what was sent even when the sender was killed
// mid-way and never reported its hash. Node built-ins only: the JS peers
// (peers/common.js) and the test process (lib.js) both load it.
'use strict'
const crypto = require('node:crypto')

const KEY = crypto.createHash('sha256').update('fairway-tunnels-bulk').digest()

// A fresh stream from offset 0: next(n) returns its next n bytes.
function bulkStream () {
  const c = crypto.createCipheriv('aes-256-ctr', KEY, Buffer.alloc(16))
  return { next: (n) => c.update(Buffer.alloc(n)) }
}

module.exports = { bulkStream }
