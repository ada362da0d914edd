// Hypercore 11 as a peer of scripts/bench: append N blocks in batches, each block signed by the
// application (Ed25519 with libsodium through sodium-native, as PyNaCl signs for the project:
// Node's own crypto.sign/verify with an ed25519 KeyObject measured 2.5x slower here), with the storage's write-ahead log fdatasync'ed after
// every batch; then replicate the core in-process into fresh cores, with and without checking
// every block's signature. Prints one JSON object of figures on stdout.
//
//   node append.js --entries 100000 --batch 1000 --size 721 --dir /tmp/x [--no-replication]
//
// With --batch 1 every block is its own append, signed and fdatasync'ed on its own: the peer
// of this project's one record per publish, each with its durable commit.
//
// Durability: hypercore-storage keeps everything in RocksDB (rocksdb-native), whose writes do
// not ask for a sync and whose API has no per-write sync option; RocksDB's flush() writes the
// memtable out as a table file, which is not what a commit costs. So after each append this
// script fdatasync's the RocksDB write-ahead log file that the append was written to (its path
// from db.currentWalFile()), which is what a synced RocksDB write does.
'use strict'

const crypto = require('crypto')
const fs = require('fs')
const sodium = require('sodium-native')
const path = require('path')
const Hypercore = require('hypercore')
const CoreStorage = require('hypercore-storage')

function options(argv) {
  const opts = { entries: 100000, batch: 1000, size: 721, dir: null, replication: true }
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]
    if (name === '--no-replication') opts.replication = false
    else if (name === '--dir') opts.dir = argv[++i]
    else if (['--entries', '--batch', '--size'].includes(name)) opts[name.slice(2)] = Number(argv[++i])
    else throw new Error('unknown option ' + name)
  }
  if (!opts.dir) throw new Error('--dir is required')
  return opts
}

// The WAL file RocksDB is appending to, kept open to fdatasync it; reopened when it rotates.
class WalSync {
  constructor(db, dir) {
    this.db = db
    this.dir = dir
    this.path = null
    this.fd = null
  }

  async sync() {
    const wal = await this.db.currentWalFile()
    // RocksDB names it relative to its directory, with a leading slash ('/000004.log').
    const file = wal.path.startsWith(this.dir) ? wal.path : path.join(this.dir, wal.path)
    if (file !== this.path) {
      if (this.fd !== null) fs.closeSync(this.fd)
      this.fd = fs.openSync(file, 'r+')
      this.path = file
    }
    fs.fdatasyncSync(this.fd)
  }

  close() {
    if (this.fd !== null) fs.closeSync(this.fd)
  }
}

function body(size, seq) {
  const block = crypto.randomBytes(size)
  block.writeBigUInt64BE(BigInt(seq), 0)
  return block
}

async function append(opts) {
  const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES)
  const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES)
  sodium.crypto_sign_keypair(publicKey, secretKey)
  const storage = new CoreStorage(path.join(opts.dir, 'origin'))
  const core = new Hypercore(storage)
  await core.ready()
  const wal = new WalSync(storage.db, path.join(opts.dir, 'origin', 'db'))
  let elapsed = 0
  for (let start = 0; start < opts.entries; start += opts.batch) {
    const count = Math.min(opts.batch, opts.entries - start)
    const bodies = []
    for (let i = 0; i < count; i++) bodies.push(body(opts.size, start + i))
    const began = process.hrtime.bigint()
    const blocks = bodies.map((b) => {
      const block = Buffer.alloc(b.length + sodium.crypto_sign_BYTES)
      b.copy(block)
      sodium.crypto_sign_detached(block.subarray(b.length), b, secretKey)
      return block
    })
    await core.append(blocks)
    await wal.sync()
    elapsed += Number(process.hrtime.bigint() - began) / 1e9
  }
  wal.close()
  if (core.length !== opts.entries) throw new Error('appended ' + core.length + ' blocks')
  return { core, publicKey, seconds: elapsed }
}

// Seconds for a fresh core to download and verify (Merkle proofs, signed roots) every block
// from `origin` over an in-process replication stream; with `check`, the application's
// signature of every block is verified as well.
async function replicate(origin, publicKey, dir, check, size) {
  const clone = new Hypercore(path.join(dir), origin.key)
  await clone.ready()
  const began = process.hrtime.bigint()
  const a = origin.replicate(true)
  const b = clone.replicate(false)
  a.pipe(b).pipe(a)
  await clone.download({ start: 0, end: origin.length }).done()
  if (check) {
    // Read back in chunks of concurrent gets: a read stream gets one block at a time.
    for (let start = 0; start < origin.length; start += 1000) {
      const end = Math.min(origin.length, start + 1000)
      const reads = []
      for (let i = start; i < end; i++) reads.push(clone.get(i))
      const blocks = await Promise.all(reads)
      for (let i = start; i < end; i++) {
        const block = blocks[i - start]
        const body = block.subarray(0, size)
        if (!sodium.crypto_sign_verify_detached(block.subarray(size), body, publicKey)) {
          throw new Error('bad signature on block ' + i)
        }
      }
    }
  }
  const seconds = Number(process.hrtime.bigint() - began) / 1e9
  if (clone.contiguousLength !== origin.length) throw new Error('replica incomplete')
  a.destroy()
  b.destroy()
  await clone.close()
  return seconds
}

async function main() {
  const opts = options(process.argv.slice(2))
  const { core, publicKey, seconds } = await append(opts)
  const out = {
    hypercore: require('hypercore/package.json').version,
    node: process.version,
    entries: opts.entries,
    appends_per_s: opts.entries / seconds
  }
  if (opts.replication) {
    const plain = await replicate(core, publicKey, path.join(opts.dir, 'r1'), false, opts.size)
    const checked = await replicate(core, publicKey, path.join(opts.dir, 'r2'), true, opts.size)
    out.replication_per_s = opts.entries / plain
    out.replication_signatures_per_s = opts.entries / checked
  }
  await core.close()
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + '\n')
  process.exit(1)
})
