// client.h — the native side of Client: a tasker_client (a pool of PostgreSQL connections) whose every
// call runs on the thread pool and returns a Promise.
#pragma once

#include <memory>
#include <vector>

#include "addon.h"

namespace tasker_node {

class NativeClient : public Napi::ObjectWrap<NativeClient> {
public:
	static Napi::Function Define(Napi::Env env);
	explicit NativeClient(const Napi::CallbackInfo &info);
	~NativeClient() override;

	// The open client, or nullptr after a TypeError/ClosedError has been thrown into JavaScript.
	tasker_client *Handle(Napi::Env env);
	static NativeClient *Unwrap(Napi::Value v);

	// Calls that hold the client (a worker, an event queue) count as users: close() waits for them.
	void Retain() { users_++; }
	void Release();

private:
	tasker_client *client_ = nullptr;
	bool closing_ = false;
	int users_ = 0;  // calls in flight + workers + event queues; JavaScript thread only
	std::vector<Napi::Promise::Deferred> close_waiters_;
	std::string url_, app_, config_path_, config_text_;
	unsigned pool_size_ = 0;

	// Runs `work` on the thread pool while counting as a user of the client.
	Napi::Value Run(const Napi::CallbackInfo &info, std::function<int(tasker_client *)> work,
	                std::function<Napi::Value(Napi::Env)> done);
	void FinishClose(Napi::Env env);

	Napi::Value Open(const Napi::CallbackInfo &info);
	Napi::Value Migrate(const Napi::CallbackInfo &info);
	Napi::Value RegisterTemplate(const Napi::CallbackInfo &info);
	Napi::Value CreateTask(const Napi::CallbackInfo &info);
	Napi::Value Task(const Napi::CallbackInfo &info);
	Napi::Value TaskState(const Napi::CallbackInfo &info);
	Napi::Value Readiness(const Napi::CallbackInfo &info);
	Napi::Value CancelTask(const Napi::CallbackInfo &info);
	Napi::Value RetryTask(const Napi::CallbackInfo &info);
	Napi::Value ResolveStep(const Napi::CallbackInfo &info);
	Napi::Value Health(const Napi::CallbackInfo &info);
	Napi::Value Mermaid(const Napi::CallbackInfo &info);
	Napi::Value Close(const Napi::CallbackInfo &info);
};

}  // namespace tasker_node
