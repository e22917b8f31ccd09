/*
 * demo_handlers.c — the C step handlers of the e-commerce demo (examples/templates/ecommerce_order.yaml)
 * that `tasker worker` runs. They show the handler API: reading the context and the results of earlier
 * steps, returning JSON, and failing retryably (the payment gateway times out on the first attempt).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "demo_handlers.h"

static cJSON *context_of(const tasker_claimed_step *s) { return cJSON_Parse(s->context_json); }

/* Results of an earlier step of the same task, parsed (caller frees), or NULL. */
static cJSON *results_of(const tasker_claimed_step *s, const char *name)
{
	for (size_t i = 0; i < s->sequence_count; i++)
		if (strcmp(s->sequence[i].name, name) == 0)
			return cJSON_Parse(s->sequence[i].results_json);
	return NULL;
}

static int give(char **out, cJSON *result)
{
	*out = cJSON_PrintUnformatted(result);
	cJSON_Delete(result);
	return 0;
}

static int validate_cart(char **out, const tasker_claimed_step *s, tasker_step_error *err, void *payload)
{
	(void)payload;
	cJSON *ctx = context_of(s);
	const cJSON *cart = cJSON_GetObjectItemCaseSensitive(ctx, "cart"), *item;
	double total = 0;
	int count = 0;
	cJSON_ArrayForEach(item, cart)
	{
		const cJSON *q = cJSON_GetObjectItemCaseSensitive(item, "quantity");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(item, "unit_price");
		total += (cJSON_IsNumber(q) ? q->valuedouble : 0) * (cJSON_IsNumber(p) ? p->valuedouble : 0);
		count += cJSON_IsNumber(q) ? q->valueint : 0;
	}
	cJSON_Delete(ctx);
	if (count == 0) {
		tasker_step_error_set(err, TASKER_OUTCOME_PERMANENT, -1, "EMPTY_CART", "the cart is empty");
		return -1;
	}
	cJSON *r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "total", total);
	cJSON_AddNumberToObject(r, "item_count", count);
	return give(out, r);
}

static int process_payment(char **out, const tasker_claimed_step *s, tasker_step_error *err, void *payload)
{
	(void)payload;
	if (s->attempts == 0) {
		tasker_step_error_set(err, TASKER_OUTCOME_RETRYABLE, 1, "GATEWAY_TIMEOUT",
		                      "payment gateway timed out (the demo fails the first attempt on purpose)");
		snprintf(err->error_class, sizeof err->error_class, "Demo::GatewayTimeout");
		return -1;
	}
	cJSON *ctx = context_of(s), *cart = results_of(s, "validate_cart");
	const cJSON *order = cJSON_GetObjectItemCaseSensitive(ctx, "order_id");
	const cJSON *total = cJSON_GetObjectItemCaseSensitive(cart, "total");
	char id[64];
	snprintf(id, sizeof id, "pay_%d", cJSON_IsNumber(order) ? order->valueint : 0);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "payment_id", id);
	cJSON_AddNumberToObject(r, "amount_charged", cJSON_IsNumber(total) ? total->valuedouble : 0);
	cJSON_Delete(ctx);
	cJSON_Delete(cart);
	return give(out, r);
}

static int update_inventory(char **out, const tasker_claimed_step *s, tasker_step_error *err, void *payload)
{
	(void)payload;
	(void)err;
	cJSON *ctx = context_of(s);
	const cJSON *item;
	cJSON *r = cJSON_CreateObject(), *reserved = cJSON_AddArrayToObject(r, "reserved");
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(ctx, "cart"))
	{
		cJSON *line = cJSON_CreateObject();
		cJSON_AddItemToObject(line, "sku", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "sku"), 1));
		cJSON_AddItemToObject(line, "quantity",
		                      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "quantity"), 1));
		cJSON_AddItemToArray(reserved, line);
	}
	cJSON_Delete(ctx);
	return give(out, r);
}

static int create_order(char **out, const tasker_claimed_step *s, tasker_step_error *err, void *payload)
{
	(void)payload;
	(void)err;
	cJSON *ctx = context_of(s), *pay = results_of(s, "process_payment");
	const cJSON *order = cJSON_GetObjectItemCaseSensitive(ctx, "order_id");
	char number[64];
	snprintf(number, sizeof number, "ORD-%06d", cJSON_IsNumber(order) ? order->valueint : 0);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "order_number", number);
	cJSON_AddItemToObject(r, "payment_id", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(pay, "payment_id"), 1));
	cJSON_AddStringToObject(r, "status", "confirmed");
	cJSON_Delete(ctx);
	cJSON_Delete(pay);
	return give(out, r);
}

static int send_confirmation(char **out, const tasker_claimed_step *s, tasker_step_error *err, void *payload)
{
	(void)payload;
	(void)err;
	cJSON *ctx = context_of(s), *order = results_of(s, "create_order");
	cJSON *r = cJSON_CreateObject();
	cJSON_AddItemToObject(r, "sent_to", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(ctx, "customer_email"), 1));
	cJSON_AddItemToObject(r, "order_number",
	                      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(order, "order_number"), 1));
	cJSON_Delete(ctx);
	cJSON_Delete(order);
	return give(out, r);
}

int demo_handlers_register(tasker_worker *w)
{
	static const struct {
		const char *cls;
		int (*fn)(char **, const tasker_claimed_step *, tasker_step_error *, void *);
	} demo[] = {
		{"Demo::ValidateCart", validate_cart},       {"Demo::ProcessPayment", process_payment},
		{"Demo::UpdateInventory", update_inventory}, {"Demo::CreateOrder", create_order},
		{"Demo::SendConfirmation", send_confirmation},
	};
	for (size_t i = 0; i < sizeof demo / sizeof *demo; i++) {
		tasker_step_handler h = {TASKER_STEP_HANDLER_VERSION, demo[i].cls, demo[i].fn, NULL, NULL};
		int rc = tasker_worker_register(w, &h);
		if (rc)
			return rc;
	}
	return 0;
}
