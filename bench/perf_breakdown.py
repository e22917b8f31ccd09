#!/usr/bin/env python3
"""Where PostgreSQL's CPU goes, by cause: reads `perf script -F comm,pid,period,ip,sym,dso
--show-task-events` (call graphs recorded with `perf record -a --call-graph dwarf`) and charges each
sample of the server's processes (the postmaster POSTMASTER_PID and every process it forked; other
servers on the machine are left out) to one cause. A sample's cause is the first frame, walking from the sampled function towards main, that
names one (so an index insertion made by a heap update counts as index maintenance, a WAL flush made
by a commit as WAL). Prints a markdown table: share of the server's samples and CPU µs per unit of work.

Usage: perf script -i FILE -F comm,pid,period,ip,sym,dso --show-task-events |
       perf_breakdown.py UNITS UNIT POSTMASTER_PID [TITLE]
"""

import re
import sys
from collections import Counter

# (cause, frame-name pattern), in the order they are tried on each frame; more specific first.
CAUSES = [
    ("WAL: flush at commit (fsync)", r"^(XLogFlush|issue_xlog_fsync|XLogWrite)$"),
    ("WAL: record insertion", r"^(XLogInsert|XLogInsertRecord|XLogRegister\w*|XLogRecordAssemble|CopyXLogRecordToWAL|ReserveXLogInsertLocation|WALInsertLock\w*)$"),
    ("LISTEN/NOTIFY", r"^(Async_Notify|PreCommit_Notify|AtCommit_Notify|SignalBackends|asyncQueue\w*|ProcessIncomingNotify|ProcessNotifyInterrupt|pg_notify)$"),
    ("foreign-key checks", r"^(RI_\w+|ri_\w+)$"),
    ("index maintenance (inserting index entries)", r"^(ExecInsertIndexTuples|index_insert|btinsert|_bt_doinsert|_bt_insertonpg|_bt_split|_bt_findinsertloc|_bt_check_unique)$"),
    ("heap writes (insert, update, delete, row locks)", r"^(heap_insert|heap_update|heap_delete|heap_multi_insert|heap_lock_tuple|heapam_tuple_\w+|RelationGetBufferForTuple|simple_heap_\w+)$"),
    ("reads (index probes, scans, visibility)", r"^(_bt_first|_bt_next|_bt_search|_bt_readpage|_bt_checkkeys|_bt_compare|_bt_binsrch\w*|index_getnext_\w+|index_fetch_heap|heap_hot_search_buffer|heapgettup\w*|heap_getnextslot|HeapTupleSatisfies\w*|ExecIndexScan|ExecSeqScan|IndexNext|ExecScan)$"),
    ("heap pruning and vacuum", r"^(heap_page_prune\w*|heap_prune\w*|lazy_\w+|heap_vacuum_rel)$"),
    ("planning", r"^(planner|standard_planner|pg_plan_query|pg_plan_queries|subquery_planner|BuildCachedPlan|GetCachedPlan|RevalidateCachedQuery|choose_custom_plan)$"),
    ("parse and analysis", r"^(raw_parser|parse_analyze\w*|pg_analyze_and_rewrite\w*|pg_rewrite_query|base_yyparse|transformStmt)$"),
    ("executor start-up and shutdown", r"^(ExecutorStart|standard_ExecutorStart|InitPlan|ExecInitNode|ExecInit\w+|ExecutorEnd|standard_ExecutorEnd|ExecEndNode|ExecEnd\w+|ExecOpenIndices|ExecCloseIndices|CreateExecutorState|FreeExecutorState)$"),
    ("relation open, catalog and plan caches", r"^(relation_open|RelationIdGetRelation|RelationBuildDesc|SearchCatCache\w*|SearchSysCache\w*|LockRelationOid|index_open|table_open|try_relation_open|AcquireExecutorLocks|AcquirePlannerLocks|CheckCachedPlan)$"),
    ("locks (heavyweight and lightweight)", r"^(LockAcquire\w*|LockRelease\w*|LockReleaseAll|LWLockAcquire|LWLockRelease|LWLockWaitForVar|LWLockAcquireOrWait|XactLockTableWait|ProcSleep|s_lock|perform_spin_delay|GrantLock\w*|FastPath\w*|SetupLockInTable)$"),
    ("snapshots", r"^(GetSnapshotData|GetTransactionSnapshot|GetLatestSnapshot|RegisterSnapshot\w*|PushActiveSnapshot\w*)$"),
    ("PL/pgSQL interpreter", r"^(plpgsql_\w+|exec_stmt\w*|exec_eval_\w+|exec_run_select|exec_assign_\w+)$"),
    ("triggers (queueing, firing)", r"^(AfterTrigger\w+|ExecAR\w+Triggers|ExecBR\w+Triggers)$"),
    ("expression evaluation and projection", r"^(ExecInterpExpr\w*|ExecProject|ExecEvalExpr\w*|ExecJustAssign\w*|ExecResult|ExecMaterializeSlot|tts_\w+|slot_\w+)$"),
    ("transaction start and commit bookkeeping", r"^(StartTransaction\w*|CommitTransaction\w*|AbortTransaction|RecordTransactionCommit|AtEOXact_\w+|AtEOXact\w*|ResourceOwner\w+|PreCommit_\w+|AtCommit_\w+)$"),
    ("statistics collection", r"^(pgstat_\w+)$"),
    ("memory allocation", r"^(AllocSet\w+|palloc\w*|pfree|MemoryContext\w+|repalloc\w*|GenerationAlloc\w*|SlabAlloc\w*)$"),
    ("background: checkpointer and background writer", r"^(BufferSync|SyncOneBuffer|FlushBuffer|CheckpointerMain|BackgroundWriterMain|BgBufferSync|CheckPointGuts|ProcessSyncRequests|mdsyncfiletag|register_dirty_segment)$"),
    ("background: WAL writer", r"^(WalWriterMain|XLogBackgroundFlush)$"),
    ("background: autovacuum", r"^(AutoVacWorkerMain|do_autovacuum|AutoVacLauncherMain)$"),
    ("backend start-up and exit (a connection opened or closed)", r"^(fork_process|BackendStartup|BackendInitialize|BackendRun|InitPostgres|RelationCacheInitialize\w*|InitCatalogCache\w*|proc_exit|shmem_exit|exit_mmap|unmap_page_range)$"),
    ("client protocol and socket I/O", r"^(pq_\w+|secure_read|secure_write|socket_\w+|ReadCommand|SocketBackend|exec_bind_message|exec_execute_message|exec_parse_message|exec_describe_\w+|printtup\w*|SendRowDescriptionMessage|EndCommand|ReadyForQuery)$"),
]
COMPILED = [(name, re.compile(p)) for name, p in CAUSES]
DSO_CAUSES = [("PL/pgSQL interpreter", "plpgsql.so")]


def cause_of(frames):
    for sym, dso in frames:
        for name, rx in COMPILED:
            if rx.match(sym):
                return name
        for name, lib in DSO_CAUSES:
            if dso.endswith(lib):
                return name
    if frames and frames[0][1].startswith("[kernel"):
        return "kernel, other (scheduling, interrupts, page faults)"
    return "other"


FORK = re.compile(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)")


def samples(lines, server):
    """Yields (pid, period, [(sym, dso), ...]) per sample; adds the pids the server forks to `server`."""
    pid, period, frames = None, 0, []
    for line in lines:
        fork = FORK.search(line)
        if fork:
            if int(fork.group(2)) in server:
                server.add(int(fork.group(1)))
            continue
        if not line.strip():
            if pid is not None:
                yield pid, period, frames
            pid, period, frames = None, 0, []
        elif line[0] not in " \t":
            if pid is not None:
                yield pid, period, frames
            parts = line.split()
            pid, period, frames = int(parts[1]), int(parts[-1]) if parts[-1].isdigit() else 0, []
        else:
            m = re.match(r"\s*[0-9a-f]+ (.*) \((.*)\)\s*$", line)
            if m:
                sym = m.group(1)
                frames.append((sym.split("+")[0], m.group(2)))
    if pid is not None:
        yield pid, period, frames


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    units, unit, server = int(sys.argv[1]), sys.argv[2], {int(sys.argv[3])}
    title = sys.argv[4] if len(sys.argv) > 4 else "PostgreSQL CPU by cause"
    by_cause, unnamed, total, n = Counter(), Counter(), 0, 0
    for pid, period, frames in samples(sys.stdin, server):
        if pid not in server:
            continue
        cause = cause_of(frames)
        by_cause[cause] += period
        if cause.startswith(("kernel, other", "other")) and frames:
            # the innermost named postgres frame, else the sampled function: what "other" is made of
            named = [f"{s}" for s, d in frames if "postgres" in d and s != "[unknown]"]
            unnamed[named[0] if named else frames[0][0]] += period
        total += period
        n += 1
    if not total:
        sys.exit(f"perf_breakdown: no samples of the server's processes (postmaster {sys.argv[3]}) in the input")
    print(f"#### {title}: {n} samples of the server's processes, {total / 1e3 / units:.0f} µs of CPU per {unit}\n")
    print(f"| cause (first frame naming one, from the sampled function up) | share | µs per {unit} |")
    print("|---|---|---|")
    for name, p in by_cause.most_common():
        print(f"| {name} | {p * 100 / total:.1f} % | {p / 1e3 / units:.0f} |")
    print()
    if unnamed:
        print("Samples charged to no cause, by their innermost named postgres frame (top 8): " + ", ".join(
            f"`{s}` {p * 100 / total:.1f} %" for s, p in unnamed.most_common(8)) + ".\n")


if __name__ == "__main__":
    main()
