/*
 * config.h — the engine's configuration: one options struct (tasker_config), its defaults, and
 * loading it from YAML files and TASKER_* environment variables. Written in the public style so the
 * declarations can move into tasker.h unchanged. Reads no database and starts nothing: the values
 * are only consulted by the modules that own the behaviour (backoff.c, the worker, the client).
 *
 * Section and key names follow the Rails engine's configuration types (BackoffConfig,
 * ExecutionConfig, EngineConfig) where the two overlap; docs/configuration.md lists every option.
 */
#ifndef TASKER_CORE_CONFIG_H
#define TASKER_CORE_CONFIG_H

#include "tasker.h" /* the declarations are public: tasker.h "configuration" */

#endif
