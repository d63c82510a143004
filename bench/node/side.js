// The node-postgres stack of scripts/bench-side.sh: one governed transaction per loop.
//
//   node bench/node/side.js [--workload select1|pk] [-c CLIENTS] [-T SECONDS] [-W WARMUP] --url URL
//
// pg.Pool({max: 30, min: 20}) (npm `pg`, pinned in package-lock.json): per
// transaction pool.connect(), BEGIN, SELECT governance.set_context($1, $2, $3, true)
// with agent, tenant and correlation as bind parameters, the statement, COMMIT,
// client.release().  The pool holds min(CLIENTS, 20) open connections before the
// clock starts.  CLIENTS async loops in one process (one event loop) run
// until WARMUP + SECONDS have passed; transactions that end in the warm-up are
// not counted.  The last line is
//   summary: stack=node-pg workload=... clients=N seconds=S tx=N errors=N tps=N p50_ms=N p99_ms=N
'use strict';
const { Pool } = require('pg');

const PK_ROWS = 10000;
const SET_CTX = 'SELECT governance.set_context($1, $2, $3, true)';

function parseArgs(argv) {
  const a = { workload: 'select1', c: 16, T: 3, W: 0.3, url: null };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) usage();
    if (k === '--workload' && (v === 'select1' || v === 'pk')) a.workload = v;
    else if (k === '-c' && Number(v) > 0) a.c = Number(v);
    else if (k === '-T' && Number(v) > 0) a.T = Number(v);
    else if (k === '-W' && Number(v) >= 0) a.W = Number(v);
    else if (k === '--url') a.url = v;
    else usage();
  }
  if (!a.url) usage();
  return a;
}

function usage() {
  console.error('usage: node side.js [--workload select1|pk] [-c CLIENTS] [-T SECONDS] [-W WARMUP] --url URL');
  process.exit(2);
}

function percentile(v, q) {
  if (v.length === 0) return 0;
  const i = Math.max(0, Math.ceil(q * v.length) - 1);
  return v[Math.min(i, v.length - 1)];
}

const clock = () => performance.now() / 1000;

async function main() {
  const a = parseArgs(process.argv);
  const pk = a.workload === 'pk';
  const stmt = pk ? 'SELECT v FROM bench_side_kv WHERE id = $1' : 'SELECT 1';
  const pool = new Pool({ connectionString: a.url, max: 30, min: 20 });
  pool.on('error', () => {}); // an idle client's error; counted when used
  // the connections the pool keeps are open before the clock starts
  const warm = await Promise.all(Array.from({ length: Math.min(a.c, 20) }, () => pool.connect()));
  warm.forEach((c) => c.release());
  const lat = [];
  let errors = 0;
  let lastError = null;
  const start = clock();
  const measureFrom = start + a.W;
  const measureTo = measureFrom + a.T;

  async function tx(agent, corr, key) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(SET_CTX, [agent, 'bench', corr]);
      const r = await (pk ? client.query(stmt, [key]) : client.query(stmt));
      if (r.rows.length !== 1) throw new Error('no row');
      await client.query('COMMIT');
      client.release();
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      client.release(e);
      throw e;
    }
  }

  async function loop(i) {
    const agent = `bench-${i}`;
    let seq = 0;
    let t0 = clock();
    while (t0 < measureTo) {
      seq += 1;
      let t1;
      try {
        await tx(agent, `req-${i}-${seq}`, 1 + Math.floor(Math.random() * PK_ROWS));
        t1 = clock();
        if (t1 >= measureFrom && t1 < measureTo) lat.push((t1 - t0) * 1e3);
      } catch (e) {
        errors += 1;
        lastError = String(e && e.message);
        t1 = clock();
      }
      t0 = t1;
    }
  }

  const loops = [];
  for (let i = 0; i < a.c; i++) loops.push(loop(i));
  await Promise.all(loops);
  await pool.end();
  lat.sort((x, y) => x - y);
  if (lastError) console.log(`last error: ${lastError}`);
  console.log(`summary: stack=node-pg workload=${a.workload} clients=${a.c} seconds=${a.T.toFixed(2)} ` +
    `tx=${lat.length} errors=${errors} tps=${(lat.length / a.T).toFixed(1)} ` +
    `p50_ms=${percentile(lat, 0.5).toFixed(3)} p99_ms=${percentile(lat, 0.99).toFixed(3)}`);
  process.exitCode = lat.length ? 0 : 1;
}

main().catch((e) => { console.error(`side.js: ${e && e.stack}`); process.exit(1); });
