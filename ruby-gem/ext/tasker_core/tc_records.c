/*
 * tc_records.c — a task's rows as the Rails engine's models read them (tasker_task_record), for the
 * readers of the task, sequence and step a handler receives (lib/tasker_core/records.rb) and for the
 * compatibility layer. Converts, nothing more: the query is the core's.
 */
#include "tc.h"

typedef struct {
	tasker_client *client;
	int64_t task_id;
	char *json;
	int rc;
} record_args;

static void *do_record(void *p)
{
	record_args *a = p;
	a->rc = tasker_task_record(&a->json, a->client, a->task_id);
	return NULL;
}

static VALUE parse_and_free(VALUE arg)
{
	return tc_json_parse_cstr((const char *)arg);
}

static VALUE free_json(VALUE arg)
{
	tasker_free((void *)arg);
	return Qnil;
}

/* Client#_task_record(task_id) → Hash {"task" => {...}, "workflow_steps" => [...]} (string keys). */
static VALUE client_task_record(VALUE self, VALUE task_id)
{
	record_args a = {tc_client_get(self), NUM2LL(task_id), NULL, 0};
	tc_client_call(self, do_record, &a);
	if (a.rc)
		tc_raise(a.rc);
	return rb_ensure(parse_and_free, (VALUE)a.json, free_json, (VALUE)a.json);
}

void tc_init_records(void)
{
	rb_define_private_method(tc_cClient, "_task_record", client_task_record, 1);
}
