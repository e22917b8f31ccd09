// events.cc — NativeEventQueue: a pull-style subscription to the client's lifecycle events. The core
// queues matching events and makes a descriptor readable; libuv watches it (uv_poll_t), so JavaScript
// listeners run on the event loop and no thread of the core ever calls into JavaScript. The watch does
// not keep the process alive on its own.
#include <uv.h>

#include <memory>

#include "client.h"

namespace tasker_node {

namespace {

Napi::Object EventToJs(Napi::Env env, const tasker_event *e)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("name", Str(env, e->name));
	o.Set("payload", JsonToJs(env, e->payload_json));
	o.Set("taskId", e->task_id ? Int64ToJs(env, e->task_id) : env.Null());
	o.Set("workflowStepId", e->workflow_step_id ? Int64ToJs(env, e->workflow_step_id) : env.Null());
	o.Set("id", e->id ? Int64ToJs(env, e->id) : env.Null());
	o.Set("timestamp", Napi::Date::New(env, static_cast<double>(e->timestamp) / 1000.0));
	return o;
}

class NativeEventQueue : public Napi::ObjectWrap<NativeEventQueue> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "NativeEventQueue",
		                   {
					   InstanceMethod<&NativeEventQueue::Close>("close"),
					   InstanceAccessor<&NativeEventQueue::Dropped>("dropped"),
				   });
	}

	// new NativeEventQueue(nativeClient, pattern, capacity, onEvents): onEvents(array of events).
	explicit NativeEventQueue(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NativeEventQueue>(info)
	{
		Napi::Env env = info.Env();
		client_ = NativeClient::Unwrap(info[0]);
		if (!client_ || !info[1].IsString() || !info[3].IsFunction())
			throw Napi::TypeError::New(env, "NativeEventQueue(client, pattern, capacity, onEvents)");
		std::string pattern = info[1].As<Napi::String>().Utf8Value();
		unsigned capacity = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
		int rc = tasker_event_queue_open(&queue_, client_->Handle(env), pattern.c_str(), capacity);
		if (rc != TASKER_OK)
			ThrowCore(env, CoreError::Last(rc));
		client_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
		client_->Retain();
		on_events_ = Napi::Persistent(info[3].As<Napi::Function>());
		context_ = std::make_unique<Napi::AsyncContext>(env, "tasker-core:events");
		uv_loop_t *loop = nullptr;
		napi_get_uv_event_loop(env, &loop);
		poll_ = new uv_poll_t;
		uv_poll_init(loop, poll_, tasker_event_queue_fd(queue_));
		poll_->data = this;
		uv_poll_start(poll_, UV_READABLE, &NativeEventQueue::OnReadable);
		uv_unref(reinterpret_cast<uv_handle_t *>(poll_));
	}

	~NativeEventQueue() override { Shut(); }

private:
	NativeClient *client_ = nullptr;
	Napi::ObjectReference client_ref_;
	Napi::FunctionReference on_events_;
	std::unique_ptr<Napi::AsyncContext> context_;
	tasker_event_queue *queue_ = nullptr;
	uv_poll_t *poll_ = nullptr;

	static void OnReadable(uv_poll_t *handle, int status, int)
	{
		auto *self = static_cast<NativeEventQueue *>(handle->data);
		if (status < 0 || !self->queue_)
			return;
		Napi::Env env = self->Env();
		Napi::HandleScope scope(env);
		Napi::Array batch = Napi::Array::New(env);
		uint32_t n = 0;
		tasker_event *e = nullptr;
		while (tasker_event_queue_next(&e, self->queue_, 0) == TASKER_OK) {
			batch.Set(n++, EventToJs(env, e));
			tasker_event_free(e);
		}
		if (!n)
			return;
		try {
			self->on_events_.MakeCallback(self->Value(), {batch}, *self->context_);
		} catch (const Napi::Error &err) {
			napi_fatal_exception(env, err.Value());
		}
	}

	void Shut()
	{
		if (poll_) {
			uv_poll_stop(poll_);
			uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
			poll_ = nullptr;
		}
		if (queue_) {
			tasker_event_queue_close(queue_);
			queue_ = nullptr;
		}
	}

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		if (queue_) {
			Shut();
			client_->Release();
			client_ref_.Reset();
		}
		return info.Env().Undefined();
	}

	Napi::Value Dropped(const Napi::CallbackInfo &info)
	{
		return Napi::Number::New(info.Env(), queue_ ? static_cast<double>(tasker_event_queue_dropped(queue_)) : 0);
	}
};

}  // namespace

void InitEvents(Napi::Env env, Napi::Object exports)
{
	exports.Set("NativeEventQueue", NativeEventQueue::Define(env));
}

}  // namespace tasker_node
