/*
 * template_api.c — the public tasker_template_* calls: read a template (template.c), validate or describe
 * it without a database, or register it through the client's registry (registry.c). Holds no rule of
 * the template format and writes no row itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "logging.h"
#include "registry.h"
#include "template.h"
#include "util.h"

static void fill_info(tasker_template_info *out, const ttpl_template *t)
{
	if (!out)
		return;
	snprintf(out->namespace_name, sizeof out->namespace_name, "%s", t->namespace_name);
	snprintf(out->name, sizeof out->name, "%s", t->name);
	snprintf(out->version, sizeof out->version, "%s", t->version);
	out->step_count = t->nsteps;
}

/* What reading a template ignored goes to the host's log handler, one line a key. */
static void log_warnings(const ttpl_template *t)
{
	for (size_t i = 0; i < t->nwarnings; i++)
		tlog_message(TASKER_LOG_WARN, "log.template", 0, 0, "%s", t->warnings[i]);
}

/* Reads a template from a file, or from text when path is NULL. */
static int load(ttpl_template **out, const char *path, const char *text, int is_json, const char *source_name,
                const ttpl_options *opts)
{
	*out = NULL;
	if (!path && !text)
		return tasker_set_error(TASKER_EINVAL, "template: neither a path nor a text given");
	return path ? ttpl_load_file(out, path, opts) : ttpl_load_string(out, text, strlen(text), source_name, is_json, opts);
}

int tasker_template_register_ext(tasker_template_info *out, tasker_client *client, const char *path,
                                 const char *text, int is_json, const char *source_name,
                                 const tasker_template_options *opts)
{
	if (opts && opts->version != TASKER_TEMPLATE_OPTIONS_VERSION)
		return tasker_set_error(TASKER_EINVAL, "tasker_template_options version %u is not supported (expected %d)",
		                        opts->version, TASKER_TEMPLATE_OPTIONS_VERSION);
	if (!client)
		return tasker_set_error(TASKER_EINVAL, "template: client is NULL");
	ttpl_options o = {opts ? opts->environment : NULL, 0};
	o.strict = opts && opts->strict >= 0 ? opts->strict != 0 : tclient_config(client)->engine.strict_templates;
	ttpl_template *tpl;
	int rc = load(&tpl, path, text, is_json, source_name, &o);
	if (rc)
		return rc;
	log_warnings(tpl);
	fill_info(out, tpl);
	tdb *db;
	if ((rc = tclient_acquire(client, &db))) {
		ttpl_free(tpl);
		return rc;
	}
	rc = treg_register(tclient_registry(client), db, tpl, NULL);
	tclient_release(client, db);
	return rc;
}

int tasker_template_register_file(tasker_template_info *out, tasker_client *client, const char *path,
                                  const char *environment)
{
	tasker_template_options o = TASKER_TEMPLATE_OPTIONS_INIT;
	o.environment = environment;
	if (!path)
		return tasker_set_error(TASKER_EINVAL, "template path is NULL");
	return tasker_template_register_ext(out, client, path, NULL, 0, NULL, &o);
}

int tasker_template_register_string(tasker_template_info *out, tasker_client *client, const char *text, int is_json,
                                    const char *source_name, const char *environment)
{
	tasker_template_options o = TASKER_TEMPLATE_OPTIONS_INIT;
	o.environment = environment;
	if (!text)
		return tasker_set_error(TASKER_EINVAL, "template text is NULL");
	return tasker_template_register_ext(out, client, NULL, text, is_json, source_name, &o);
}

int tasker_template_validate_file(tasker_template_info *out, const char *path, const char *environment)
{
	ttpl_template *tpl;
	ttpl_options o = {environment, 0};
	int rc = ttpl_load_file(&tpl, path, &o);
	if (!rc) {
		log_warnings(tpl);
		fill_info(out, tpl);
	}
	ttpl_free(tpl);
	return rc;
}

void tasker_template_steps_free(tasker_template_step *steps, size_t count)
{
	if (!steps)
		return;
	for (size_t i = 0; i < count; i++) {
		free((char *)steps[i].name);
		free((char *)steps[i].handler_class);
		for (size_t k = 0; k < steps[i].depends_on_count; k++)
			free((char *)steps[i].depends_on[k]);
		free((char **)steps[i].depends_on);
	}
	free(steps);
}

/* A copy of one parsed step for the public description. 0, or TASKER_ENOMEM. */
static int describe_step(tasker_template_step *d, const ttpl_step *s)
{
	d->retry_limit = s->default_retry_limit;
	d->retryable = s->default_retryable;
	d->skippable = s->skippable;
	if (!(d->name = tstrdup(s->name)) || !(d->handler_class = tstrdup(s->handler_class)))
		return tasker_set_oom();
	if (s->ndepends == 0)
		return TASKER_OK;
	char **deps = calloc(s->ndepends, sizeof *deps);
	if (!deps)
		return tasker_set_oom();
	d->depends_on = (const char *const *)deps;
	for (size_t k = 0; k < s->ndepends; k++, d->depends_on_count++)
		if (!(deps[k] = tstrdup(s->depends_on[k])))
			return tasker_set_oom();
	return TASKER_OK;
}

int tasker_template_describe(tasker_template_step **out, size_t *out_count, tasker_template_info *out_info,
                             const char *path, const char *text, int is_json, const char *source_name,
                             const char *environment)
{
	*out = NULL;
	*out_count = 0;
	ttpl_template *tpl;
	ttpl_options o = {environment, 0};
	int rc = load(&tpl, path, text, is_json, source_name, &o);
	if (rc)
		return rc;
	fill_info(out_info, tpl);
	tasker_template_step *steps = calloc(tpl->nsteps ? tpl->nsteps : 1, sizeof *steps);
	if (!steps)
		rc = tasker_set_oom();
	for (size_t i = 0; !rc && i < tpl->nsteps; i++)
		rc = describe_step(&steps[i], &tpl->steps[i]);
	if (rc)
		tasker_template_steps_free(steps, tpl->nsteps);
	else {
		*out = steps;
		*out_count = tpl->nsteps;
	}
	ttpl_free(tpl);
	return rc;
}
