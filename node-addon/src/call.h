// call.h — one core call run on libuv's thread pool, settling a Promise on the JavaScript thread: how
// every database operation of the addon leaves the event loop alone.
#pragma once

#include <functional>

#include "addon.h"

namespace tasker_node {

class Call : public Napi::AsyncWorker {
public:
	using Work = std::function<int()>;                     // thread pool; returns a tasker code
	using Done = std::function<Napi::Value(Napi::Env)>;    // JavaScript thread; the resolved value
	using After = std::function<void()>;                   // JavaScript thread, settled or not

	// Queues the call and returns its Promise. `keep` (may be empty) is kept alive until it settles.
	static Napi::Promise Start(Napi::Env env, Napi::Object keep, Work work, Done done, After after = nullptr)
	{
		auto *c = new Call(env, std::move(work), std::move(done), std::move(after));
		if (!keep.IsEmpty())
			c->keep_ = Napi::Persistent(keep);
		Napi::Promise p = c->deferred_.Promise();
		c->Queue();
		return p;
	}

	static Napi::Promise Rejected(Napi::Env env, const CoreError &e)
	{
		auto d = Napi::Promise::Deferred::New(env);
		d.Reject(MakeError(env, e));
		return d.Promise();
	}

protected:
	void Execute() override
	{
		tasker_error_clear();
		int rc = work_();
		if (rc < 0)
			error_ = CoreError::Last(rc);
	}

	void OnOK() override
	{
		Napi::Env env = Env();
		Napi::HandleScope scope(env);
		if (after_)
			after_();
		if (error_.code < 0) {
			deferred_.Reject(MakeError(env, error_));
			return;
		}
		try {
			deferred_.Resolve(done_ ? done_(env) : env.Undefined());
		} catch (const Napi::Error &e) {
			deferred_.Reject(e.Value());
		}
	}

	void OnError(const Napi::Error &e) override
	{
		if (after_)
			after_();
		deferred_.Reject(e.Value());
	}

private:
	Call(Napi::Env env, Work work, Done done, After after)
		: Napi::AsyncWorker(env, "tasker-core"), deferred_(Napi::Promise::Deferred::New(env)),
		  work_(std::move(work)), done_(std::move(done)), after_(std::move(after))
	{
	}

	Napi::Promise::Deferred deferred_;
	Work work_;
	Done done_;
	After after_;
	Napi::ObjectReference keep_;
	CoreError error_;
};

}  // namespace tasker_node
