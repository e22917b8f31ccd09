/*
 * tasker_core.c — entry point of the extension (require "tasker_core/tasker_core_ext"): defines the
 * TaskerCore module and lets each file register its classes. lib/tasker_core.rb adds the Ruby layer.
 */
#include "tc.h"

VALUE tc_mTaskerCore;

RUBY_FUNC_EXPORTED void Init_tasker_core_ext(void)
{
#ifdef HAVE_RB_EXT_RACTOR_SAFE
	rb_ext_ractor_safe(false);
#endif
	tc_mTaskerCore = rb_define_module("TaskerCore");
	rb_define_const(tc_mTaskerCore, "CORE_VERSION", rb_str_freeze(rb_str_new_cstr(TASKER_VERSION)));
	tc_init_errors();
	tc_init_json();
	tc_init_client();
	tc_init_handler();
	tc_init_worker();
	tc_init_events();
	tc_init_log();
	tc_init_records();
}
