#!/usr/bin/env node
/*
 * graphile_bench.js — graphile-worker measured the way bench/bench.c measures tasker-core, on the same
 * PostgreSQL server (the one TASKER_DATABASE_URL points at), in a database of its own (graphile_bench,
 * dropped and recreated on every run, dropped again at the end).
 *
 *   throughput  20,000 no-op jobs, enqueued in bulk (add_jobs) before the clock starts, then 2 worker
 *               processes (child processes) run them until none is left: jobs/s, transactions/job and
 *               CPU µs/job (the workers' CPU + every process of the PostgreSQL server), in two modes:
 *                 unbatched  one job fetched and completed per statement (no local queue, no completion
 *                            batching), concurrency 10 per process
 *                 batched    graphile-worker's documented high-throughput settings (its performance page:
 *                            localQueue, completeJobBatchDelay/failJobBatchDelay 0, concurrency 24, pool 25)
 *   latency     30 chains of 20 jobs, one chain at a time, one worker process: each job's task calls
 *               addJob for the next one; a hop is from just before that addJob call to the start of the
 *               next job's task (both timestamps taken in that process): p50 and p99, in both modes.
 *
 * Prints one JSON object on stdout; progress and errors go to stderr. Exits non-zero on any failure.
 * Environment: TASKER_DATABASE_URL (required; a libpq URL such as
 * postgresql://user@/db?host=/socket/dir&port=N), GRAPHILE_BENCH_JOBS (default 20000),
 * GRAPHILE_BENCH_CHAINS (default 30), GRAPHILE_BENCH_DB (default graphile_bench),
 * GRAPHILE_BENCH_KEEP=1 (leave the database behind).
 */
"use strict";

// graphile-worker logs every completed job at "info" unless this is set; the benchmark must not pay
// for console output (set before the library loads; inherited by the child processes).
process.env.NO_LOG_SUCCESS = "1";

const { fork, execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");
const { performance } = require("perf_hooks");
const pg = require("pg");

const WORKER_PROCESSES = 2;
const JOBS = intEnv("GRAPHILE_BENCH_JOBS", 20000);
const CHAINS = intEnv("GRAPHILE_BENCH_CHAINS", 30);
const CHAIN_LENGTH = 20; /* jobs per chain: 19 hops each, as tasker's 20-step chain has 19 stages */
const DB_NAME = process.env.GRAPHILE_BENCH_DB || "graphile_bench";
const PHASE_TIMEOUT_MS = 10 * 60 * 1000;

/* The two configurations. `options` go to graphile-worker's run()/runOnce(); `poolMax` sizes the pg.Pool
 * we hand it (graphile's advice: max(10, concurrency + 2); its performance page uses 25 with 24 jobs). */
const MODES = {
  unbatched: {
    describe:
      "concurrency 10 per process, pool 12, prepared statements (default), one get_job and one complete_job " +
      "statement per job (no localQueue, no completeJobBatchDelay)",
    poolMax: 12,
    options: { concurrency: 10 },
  },
  batched: {
    describe:
      "graphile-worker's documented high-throughput settings (worker.graphile.org/docs/performance): " +
      "concurrency 24 per process, pool 25, localQueue.size 500 (jobs fetched and locked 500 at a time), " +
      "completeJobBatchDelay 0 and failJobBatchDelay 0 (completions batched), prepared statements; " +
      "one job per payload (array-payload 'batch jobs' would change the unit of work, so not used)",
    poolMax: 25,
    options: {
      concurrency: 24,
      preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    },
  },
};

function intEnv(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) fail(`${name} must be a positive integer, got '${v}'`);
  return n;
}

function fail(message) {
  process.stderr.write(`graphile_bench: ${message}\n`);
  process.exit(1);
}

function log(message) {
  process.stderr.write(`graphile_bench: ${message}\n`);
}

/* ------------------------------------------------------------------ connection settings */

/* libpq connection URL (or key=value conninfo) → node-postgres client config. node-postgres' own string
 * parser does not follow libpq for every form (an empty host with ?host=/socket/dir&port=N), so the
 * URL is taken apart here: postgres[ql]://[user[:password]@][host][:port][/dbname][?param=value&...]. */
function pgConfigFrom(conninfo) {
  const params = {};
  const m = /^postgres(?:ql)?:\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?(#.*)?$/i.exec(conninfo.trim());
  if (m) {
    let authority = m[1];
    const at = authority.lastIndexOf("@");
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      authority = authority.slice(at + 1);
      const colon = userinfo.indexOf(":");
      params.user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
      if (colon >= 0) params.password = decode(userinfo.slice(colon + 1));
    }
    if (authority.includes(",")) {
      log(`several hosts in the URL; using the first (${authority})`);
      authority = authority.split(",")[0];
    }
    const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
    if (!hp) throw new Error(`cannot parse host and port in '${authority}'`);
    if (hp[1]) params.host = decode(hp[1].replace(/^\[(.*)\]$/, "$1"));
    if (hp[2]) params.port = hp[2];
    if (m[2] && m[2].length > 1) params.dbname = decode(m[2].slice(1));
    if (m[3]) {
      for (const pair of m[3].slice(1).split("&")) {
        if (!pair) continue;
        const eq = pair.indexOf("=");
        if (eq < 0) throw new Error(`URL parameter without a value: '${pair}'`);
        params[decode(pair.slice(0, eq))] = decode(pair.slice(eq + 1));
      }
    }
  } else {
    // key = value pairs; values may be single-quoted, with \' and \\ escapes
    const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']*))\s*/y;
    const text = conninfo.trim();
    while (re.lastIndex < text.length) {
      const kv = re.exec(text);
      if (!kv) throw new Error("TASKER_DATABASE_URL is neither a postgresql:// URL nor key=value pairs");
      params[kv[1]] = kv[2] !== undefined ? kv[2].replace(/\\(.)/g, "$1") : kv[3];
    }
  }
  const config = {};
  for (const [k, v] of Object.entries(params)) {
    switch (k) {
      case "host":
      case "hostaddr":
        config.host = v.split(",")[0];
        break;
      case "port":
        config.port = Number(v.split(",")[0]);
        break;
      case "user":
        config.user = v;
        break;
      case "password":
        config.password = v;
        break;
      case "dbname":
        config.database = v;
        break;
      case "application_name":
        config.application_name = v;
        break;
      case "options":
        config.options = v;
        break;
      case "connect_timeout":
        config.connectionTimeoutMillis = Number(v) * 1000;
        break;
      case "sslmode":
        if (v === "require" || v === "prefer") config.ssl = v === "require" ? { rejectUnauthorized: false } : undefined;
        else if (v === "verify-ca" || v === "verify-full") config.ssl = true;
        break;
      default:
        log(`ignoring connection parameter '${k}'`);
    }
  }
  // libpq's default is the local socket directory, node-postgres' is localhost over TCP
  if (!config.host && !process.env.PGHOST && fs.existsSync("/var/run/postgresql")) config.host = "/var/run/postgresql";
  return config;
}

function decode(s) {
  return decodeURIComponent(s);
}

/* ------------------------------------------------------------------ PostgreSQL server CPU */

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
} catch (_) {
  /* keep 100 */
}

/* utime + stime (seconds) of the postmaster (with cutime + cstime: its children that already exited)
 * and of every live process whose parent it is: backends, walwriter, checkpointer, … */
function serverCpuSeconds(postmasterPid) {
  let ticks = 0;
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, "latin1");
    } catch (_) {
      continue; // exited meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // f[0] state, f[1] ppid, …, f[11] utime, f[12] stime, f[13] cutime, f[14] cstime
    const pid = Number(name);
    const ppid = Number(f[1]);
    if (pid === postmasterPid) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    else if (ppid === postmasterPid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / clockTicks;
}

/* ------------------------------------------------------------------ small helpers */

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Same rule as bench.c's pct(): the element at round(p × (n − 1)) of the sorted samples. */
function percentile(sorted, p) {
  return sorted[Math.floor(p * (sorted.length - 1) + 0.5)];
}

function round(x, digits) {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

/* A pg.Pool that reports (instead of crashing on) errors of idle and connected clients, as graphile-worker asks. */
function newPool(config, max) {
  const pool = new pg.Pool({ ...config, max });
  pool.on("error", (e) => log(`pool error (pid ${process.pid}): ${e.message}`));
  pool.on("connect", (client) => client.on("error", (e) => log(`connection error (pid ${process.pid}): ${e.message}`)));
  return pool;
}

function quietLogger(graphile, prefix) {
  return new graphile.Logger((scope) => (level, message) => {
    if (level === "error" || level === "warning") process.stderr.write(`${prefix} ${level}: ${message}\n`);
  });
}

/* ------------------------------------------------------------------ child processes */

/* A child process runs graphile-worker and reports over IPC. Messages from the parent:
 *   {cmd: "prepare", role: "throughput" | "latency", mode, config}  → {ready: true}
 *   {cmd: "go"}  → throughput: runOnce until no job is left, then {done, jobs, cpuUs}
 *                  latency: the chains, then {done, hops: [ms, …]}                                */
async function child() {
  const graphile = require("graphile-worker");
  let prepared;
  process.on("message", async (msg) => {
    try {
      if (msg.cmd === "prepare") {
        prepared = msg;
        process.send({ ready: true });
      } else if (msg.cmd === "go") {
        const result = prepared.role === "throughput" ? await childThroughput(graphile, prepared) : await childLatency(graphile, prepared);
        process.send({ done: true, ...result }, () => process.exit(0));
      }
    } catch (e) {
      process.stderr.write(`graphile_bench (worker ${process.pid}): ${(e && e.stack) || e}\n`);
      process.exit(1);
    }
  });
  process.on("disconnect", () => process.exit(1)); // the parent died
}

async function childThroughput(graphile, { mode, config }) {
  const cpu0 = process.cpuUsage();
  const m = MODES[mode];
  const pool = newPool(config, m.poolMax);
  let jobs = 0;
  await graphile.runOnce({
    ...m.options,
    pgPool: pool,
    noHandleSignals: true,
    logger: quietLogger(graphile, `graphile_bench (worker ${process.pid})`),
    taskList: {
      noop: async () => {
        jobs++;
      },
    },
  });
  await pool.end();
  const cpu = process.cpuUsage(cpu0);
  return { jobs, cpuUs: cpu.user + cpu.system };
}

async function childLatency(graphile, { mode, config, chains }) {
  const m = MODES[mode];
  const pool = newPool(config, m.poolMax);
  const addedAt = new Map(); // chain → performance.now() just before its latest addJob call
  const hops = [];
  let chainDone = null;
  let recording = false;
  const runner = await graphile.run({
    ...m.options,
    pgPool: pool,
    noHandleSignals: true,
    logger: quietLogger(graphile, `graphile_bench (latency ${process.pid})`),
    taskList: {
      hop: async (payload, helpers) => {
        const start = performance.now();
        if (payload.hop > 0 && recording) hops.push(start - addedAt.get(payload.chain));
        if (payload.hop + 1 < CHAIN_LENGTH) {
          addedAt.set(payload.chain, performance.now());
          await helpers.addJob("hop", { chain: payload.chain, hop: payload.hop + 1 });
        } else if (chainDone) {
          chainDone();
        }
      },
    },
  });
  // chain 0 warms the connections and prepared statements and is not recorded
  for (let c = 0; c <= chains; c++) {
    recording = c > 0;
    const finished = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chain ${c} did not finish within 60 s`)), 60000);
      chainDone = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    await runner.addJob("hop", { chain: c, hop: 0 });
    await finished;
    await sleep(5); // let the last job's completion land before the next chain starts
  }
  await runner.stop();
  await pool.end();
  return { hops };
}

/* Starts n child processes, sends each the prepare message, resolves when all are ready. */
async function startChildren(n, prepare) {
  const kids = [];
  for (let i = 0; i < n; i++) {
    const kid = fork(__filename, ["--child"], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    kid.result = new Promise((resolve, reject) => {
      kid.on("message", (msg) => {
        if (msg.ready) kid.emit("ready");
        else if (msg.done) resolve({ ...msg, at: performance.now() });
      });
      kid.on("exit", (code, signal) => {
        kid.exited = true;
        if (code !== 0) reject(new Error(`a worker process exited with ${signal || `status ${code}`}`));
      });
    });
    kid.result.catch(() => {}); // handled where awaited
    kid.ready = new Promise((resolve, reject) => {
      kid.once("ready", resolve);
      kid.result.catch(reject);
    });
    kid.send(prepare);
    kids.push(kid);
  }
  await withTimeout(Promise.all(kids.map((k) => k.ready)), 60000, "worker processes did not start", kids);
  return kids;
}

async function withTimeout(promise, ms, what, kids) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} (timeout after ${ms / 1000} s)`)), ms);
      }),
    ]);
  } catch (e) {
    for (const k of kids || []) if (!k.exited) k.kill("SIGKILL");
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

async function waitExit(kid) {
  if (!kid.exited) await new Promise((r) => kid.once("exit", r));
}

/* ------------------------------------------------------------------ the parent */

async function commits(client) {
  await client.query("SELECT pg_stat_force_next_flush()");
  await client.query("SELECT pg_stat_clear_snapshot()");
  const r = await client.query(
    "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()"
  );
  return Number(r.rows[0].n);
}

async function throughput(graphile, utils, client, config, postmasterPid, mode) {
  const batch = 5000;
  for (let i = 0; i < JOBS; i += batch) {
    const specs = [];
    for (let k = i; k < Math.min(JOBS, i + batch); k++) specs.push({ identifier: "noop", payload: {} });
    await utils.addJobs(specs);
  }
  await client.query("VACUUM ANALYZE");
  await client.query("CHECKPOINT");
  const kids = await startChildren(WORKER_PROCESSES, { cmd: "prepare", role: "throughput", mode, config });
  const x0 = await commits(client);
  const pg0 = serverCpuSeconds(postmasterPid);
  const t0 = performance.now();
  for (const k of kids) k.send({ cmd: "go" });
  const results = await withTimeout(Promise.all(kids.map((k) => k.result)), PHASE_TIMEOUT_MS, `${mode} throughput`, kids);
  const t1 = Math.max(...results.map((r) => r.at));
  await Promise.all(kids.map(waitExit));
  await sleep(1500); // the workers' backends exit and flush their statistics
  const pgCpu = serverCpuSeconds(postmasterPid) - pg0;
  const xacts = (await commits(client)) - x0 - 2; // minus the two statistics queries themselves
  const left = Number((await client.query("SELECT count(*) AS n FROM graphile_worker._private_jobs")).rows[0].n);
  const ran = results.reduce((s, r) => s + r.jobs, 0);
  if (left !== 0) throw new Error(`${mode}: ${left} of ${JOBS} jobs are still in the queue`);
  if (ran !== JOBS) log(`${mode}: the task ran ${ran} times for ${JOBS} jobs`);
  const secs = (t1 - t0) / 1000;
  const workerCpu = results.reduce((s, r) => s + r.cpuUs, 0) / 1e6;
  const out = {
    jobs_per_s: round(JOBS / secs, 1),
    seconds: round(secs, 3),
    cpu_us_per_job: round(((workerCpu + pgCpu) * 1e6) / JOBS, 1),
    cpu_us_per_job_worker: round((workerCpu * 1e6) / JOBS, 1),
    cpu_us_per_job_postgres: round((pgCpu * 1e6) / JOBS, 1),
    transactions_per_job: round(xacts / JOBS, 3),
  };
  log(
    `${mode}: ${out.jobs_per_s} jobs/s (${JOBS} jobs in ${out.seconds} s), CPU ${out.cpu_us_per_job} µs/job ` +
      `(workers ${out.cpu_us_per_job_worker} + PostgreSQL ${out.cpu_us_per_job_postgres}), ` +
      `${out.transactions_per_job} transactions/job (${xacts} transactions)`
  );
  return out;
}

async function latency(config, mode) {
  const [kid] = await startChildren(1, { cmd: "prepare", role: "latency", mode, config, chains: CHAINS });
  kid.send({ cmd: "go" });
  const { hops } = await withTimeout(kid.result, PHASE_TIMEOUT_MS, `${mode} hop latency`, [kid]);
  await waitExit(kid);
  if (hops.length !== CHAINS * (CHAIN_LENGTH - 1)) throw new Error(`${mode}: ${hops.length} hops recorded`);
  hops.sort((a, b) => a - b);
  const out = { p50_ms: round(percentile(hops, 0.5), 3), p99_ms: round(percentile(hops, 0.99), 3), hops: hops.length };
  log(`${mode}: hop latency p50 ${out.p50_ms} ms, p99 ${out.p99_ms} ms (${out.hops} hops)`);
  return out;
}

async function main() {
  const url = process.env.TASKER_DATABASE_URL;
  if (!url) fail("set TASKER_DATABASE_URL (a libpq URL of the PostgreSQL server to measure on)");
  const adminConfig = pgConfigFrom(url);
  const config = { ...adminConfig, database: DB_NAME };
  const graphile = require("graphile-worker");
  const version = JSON.parse(
    fs.readFileSync(path.join(path.dirname(require.resolve("graphile-worker")), "..", "package.json"), "utf8")
  ).version;

  const admin = new pg.Client(adminConfig);
  try {
    await admin.connect();
  } catch (e) {
    const where = `${adminConfig.host || "localhost"}${adminConfig.port ? ` port ${adminConfig.port}` : ""}`;
    fail(`cannot connect to PostgreSQL (${where}, database ${adminConfig.database || "(default)"}): ${e.message}`);
  }
  const setting = async (name) => (await admin.query(`SHOW ${name}`)).rows[0][name];
  const server = {
    version: (await setting("server_version")).split(" ")[0],
    fsync: await setting("fsync"),
    synchronous_commit: await setting("synchronous_commit"),
  };
  if (!server.fsync || server.fsync !== "on") log(`warning: the server runs with fsync=${server.fsync}`);
  const pidFile = path.join(await setting("data_directory"), "postmaster.pid");
  let postmasterPid;
  try {
    postmasterPid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
  } catch (e) {
    fail(`cannot read ${pidFile} (${e.code || e.message}): run this on the database server's host, as a user who can read its data directory`);
  }
  if (!fs.existsSync(`/proc/${postmasterPid}/stat`)) fail(`the postmaster (pid ${postmasterPid} from ${pidFile}) is not visible in /proc`);
  const quoted = `"${DB_NAME.replace(/"/g, '""')}"`;
  await admin.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${quoted}`);

  const result = {};
  try {
    const pool = newPool(config, 2);
    const logger = quietLogger(graphile, "graphile_bench:");
    await graphile.runMigrations({ pgPool: pool, logger });
    const utils = await graphile.makeWorkerUtils({ pgPool: pool, logger });
    const client = await pool.connect();
    const tp = {};
    try {
      for (const mode of ["unbatched", "batched"]) {
        log(`${mode} throughput: ${JOBS} no-op jobs, ${WORKER_PROCESSES} worker processes`);
        tp[mode] = await throughput(graphile, utils, client, config, postmasterPid, mode);
      }
    } finally {
      client.release();
      await utils.release();
      await pool.end();
    }
    const hop = {};
    for (const mode of ["unbatched", "batched"]) {
      log(`${mode} hop latency: ${CHAINS} chains of ${CHAIN_LENGTH} jobs, 1 worker process`);
      hop[mode] = await latency(config, mode);
    }
    Object.assign(result, {
      peer: "graphile-worker",
      version,
      node: process.version,
      server,
      jobs: JOBS,
      worker_processes: WORKER_PROCESSES,
      unbatched_mode: MODES.unbatched.describe,
      unbatched_jobs_per_s: tp.unbatched.jobs_per_s,
      unbatched_seconds: tp.unbatched.seconds,
      cpu_us_per_job_unbatched: tp.unbatched.cpu_us_per_job,
      cpu_us_per_job_unbatched_worker: tp.unbatched.cpu_us_per_job_worker,
      cpu_us_per_job_unbatched_postgres: tp.unbatched.cpu_us_per_job_postgres,
      transactions_per_job_unbatched: tp.unbatched.transactions_per_job,
      batched_mode: MODES.batched.describe,
      batched_jobs_per_s: tp.batched.jobs_per_s,
      batched_seconds: tp.batched.seconds,
      cpu_us_per_job_batched: tp.batched.cpu_us_per_job,
      cpu_us_per_job_batched_worker: tp.batched.cpu_us_per_job_worker,
      cpu_us_per_job_batched_postgres: tp.batched.cpu_us_per_job_postgres,
      transactions_per_job_batched: tp.batched.transactions_per_job,
      hop_definition:
        `${CHAINS} chains of ${CHAIN_LENGTH} jobs run one at a time (plus one unrecorded warm-up chain), 1 worker ` +
        "process: from just before a task's addJob call for the next job to that job's task start",
      hops: hop.unbatched.hops,
      hop_p50_ms: hop.unbatched.p50_ms,
      hop_p99_ms: hop.unbatched.p99_ms,
      hop_batched_p50_ms: hop.batched.p50_ms,
      hop_batched_p99_ms: hop.batched.p99_ms,
    });
  } finally {
    if (process.env.GRAPHILE_BENCH_KEEP !== "1") await admin.query(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
}

if (process.argv[2] === "--child") {
  child();
} else {
  main().catch((e) => fail((e && e.stack) || String(e)));
}
