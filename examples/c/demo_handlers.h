/*
 * demo_handlers.h — the C step handlers of the e-commerce demo (examples/templates/ecommerce_order.yaml),
 * run by `tasker worker`.
 */
#ifndef TASKER_DEMO_HANDLERS_H
#define TASKER_DEMO_HANDLERS_H

#include "tasker.h"

/* Registers the demo's five handlers (Demo::ValidateCart ... Demo::SendConfirmation) on `w`. */
int demo_handlers_register(tasker_worker *w);

#endif
