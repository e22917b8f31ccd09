/*
 * cli_worker.c — `tasker worker`: runs the demo handlers until SIGTERM/SIGINT (or, with --until-idle,
 * until nothing is left to do).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "demo_handlers.h"

static tasker_worker *volatile running_worker;
static volatile sig_atomic_t stop_early; /* a signal before the worker existed */

static void on_signal(int sig)
{
	(void)sig;
	stop_early = 1;
	if (running_worker)
		tasker_worker_stop(running_worker);
}

static int run_worker(const cli_args *a)
{
	long long concurrency;
	if (cli_option_number(&concurrency, a, "--concurrency", 0, TASKER_WORKER_MAX_CONCURRENCY, 0))
		return 2;
	/* Signals first: a SIGTERM while connecting still ends in a clean stop and exit status 0. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	o.concurrency = (unsigned)concurrency; /* 0: the default */
	tasker_worker *w;
	int rc = tasker_worker_new(&w, c, &o);
	if (!rc)
		rc = demo_handlers_register(w);
	if (rc) {
		tasker_client_free(c);
		return cli_fail("worker");
	}
	running_worker = w;
	if (stop_early)
		tasker_worker_stop(w);
	rc = cli_flag(a, "--until-idle") ? tasker_worker_run_until_idle(w) : tasker_worker_run(w);
	running_worker = NULL;
	unsigned long long n = (unsigned long long)tasker_worker_processed(w);
	tasker_worker_free(w);
	tasker_client_free(c);
	if (rc)
		return cli_fail("worker");
	fprintf(stderr, "worker: processed %llu step%s\n", n, n == 1 ? "" : "s");
	return 0;
}

const cli_command cli_cmd_worker = {
	"worker", 1, "worker [--until-idle] [--concurrency N]", "run the demo step handlers",
	"Runs the C step handlers of the e-commerce demo (examples/c/demo_handlers.c, for\n"
	"examples/templates/ecommerce_order.yaml) until SIGTERM or SIGINT, then stops gracefully.\n"
	"  --until-idle      stop once nothing this worker can run is left (steps in a backoff included)\n"
	"  --concurrency N   steps run at once (default: the worker's default)\n",
	run_worker};
