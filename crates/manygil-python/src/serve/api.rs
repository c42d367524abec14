//! The `serve_*` functions of `manygil._native`: their method table, each row naming the
//! function of this folder that does the work.

use crate::ffi::entry::methods;
use crate::ffi::err::PyResult;
use crate::ffi::Borrowed;

use super::{access, asgi, inspect, requests, servers, watch, websocket};

methods! {
    /// The `serve_*` method table (static C data; CPython only reads it).
    static METHODS = [
        args c"serve_bind" => c_serve_bind(servers::bind), c"serve_bind(listen, io_threads, max_header_bytes, max_headers, max_body, header_timeout, body_timeout, request_timeout, access_log, statics, ws_max_size=16777216, access_to_python=False, /)\n--\n\nBind an HTTP server (not accepting yet), with statics [(url_prefix, directory bytes)] served by the front; return (id, [address]). access_to_python: access-log lines go to serve_access_lines instead of stderr.";
        args c"serve_access_lines" => c_serve_access_lines(access::lines), c"serve_access_lines(id, timeout, /)\n--\n\nThe access-log lines written since the last call, waiting up to timeout for the first: ([line], dropped), or None once the server is closed.";
        args c"serve_requests" => c_serve_requests(inspect::requests), c"serve_requests()\n--\n\n[(interp_id, thread_name, 'METHOD /path?query', seconds)] of the requests being answered now.";
        args c"serve_listen" => c_serve_listen(servers::listen), c"serve_listen(listen, /)\n--\n\nOpen listening sockets (HOST:PORT, unix:PATH, fd://N) without a server; return [(fd, address)], the caller owning each fd.";
        args c"serve_start" => c_serve_start(servers::start), c"serve_start(id, /)\n--\n\nStart accepting connections.";
        args c"serve_shutdown" => c_serve_shutdown(servers::shutdown), c"serve_shutdown(id, grace, /)\n--\n\nStop accepting, finish in-flight requests within grace seconds, cancel the rest; return (graceful, cancelled).";
        args c"serve_close" => c_serve_close(servers::close), c"serve_close(id, /)\n--\n\nForget a server, shutting it down at once if needed.";
        args c"serve_stats" => c_serve_stats(servers::stats), c"serve_stats(id, /)\n--\n\nReturn (requests in flight, requests queued).";
        args c"serve_next" => c_serve_next(requests::next), c"serve_next(id, timeout, /)\n--\n\nWait for the next request: (rid, environ), False on timeout, None once closed.";
        args c"serve_done" => c_serve_done(requests::done), c"serve_done(rid, /)\n--\n\nRelease a request (unanswered: 500).";
        args c"serve_thread_exit" => c_serve_thread_exit(requests::thread_exit), c"serve_thread_exit()\n--\n\nThe calling thread stops serving.";
        args c"serve_read" => c_serve_read(requests::read), c"serve_read(rid, size, /)\n--\n\nRead up to size bytes of the request body (None or < 0: all).";
        args c"serve_readline" => c_serve_readline(requests::readline), c"serve_readline(rid, size, /)\n--\n\nRead one line of the request body.";
        args c"serve_respond" => c_serve_respond(requests::respond), c"serve_respond(rid, status, headers, body, /)\n--\n\nSend the whole response; False if the client is gone.";
        args c"serve_start_stream" => c_serve_start_stream(requests::start_stream), c"serve_start_stream(rid, status, headers, /)\n--\n\nSend the response head; False if the client is gone.";
        args c"serve_write" => c_serve_write(requests::write), c"serve_write(rid, data, /)\n--\n\nSend a body chunk; False if the client is gone.";
        args c"serve_finish" => c_serve_finish(requests::finish), c"serve_finish(rid, /)\n--\n\nEnd a streamed body.";
        args c"serve_abort" => c_serve_abort(requests::abort), c"serve_abort(rid, /)\n--\n\nCut a streamed body.";
        args c"serve_status" => c_serve_status(requests::status), c"serve_status(rid, /)\n--\n\nReturn (cancel reason, body error) as strings or None.";
        args c"serve_asgi_next" => c_serve_asgi_next(asgi::next), c"serve_asgi_next(id, timeout, /)\n--\n\nWait for the next request: (rid, ASGI scope, more_body), False on timeout, None once closed.";
        args c"serve_asgi_read" => c_serve_asgi_read(asgi::read), c"serve_asgi_read(rid, size, /)\n--\n\nRead what the client sent of the body, up to size bytes: (data, more_body).";
        args c"serve_asgi_start" => c_serve_asgi_start(asgi::start), c"serve_asgi_start(rid, status, headers, bodiless, /)\n--\n\nKeep the head of http.response.start (bytes header pairs); return the declared Content-Length or None.";
        args c"serve_asgi_respond" => c_serve_asgi_respond(asgi::respond), c"serve_asgi_respond(rid, body, /)\n--\n\nAnswer with the kept head and the whole body; False if the client is gone.";
        args c"serve_asgi_stream" => c_serve_asgi_stream(asgi::stream), c"serve_asgi_stream(rid, /)\n--\n\nSend the kept head; the body follows by serve_write. False if the client is gone.";
        args c"serve_asgi_events" => c_serve_asgi_events(asgi::events), c"serve_asgi_events(timeout, /)\n--\n\nWait for this interpreter's request cancellations: [(rid, reason)], [] on timeout, None once closed.";
        args c"serve_asgi_close" => c_serve_asgi_close(asgi::close), c"serve_asgi_close()\n--\n\nClose this interpreter's cancellation inbox.";
        args c"serve_asgi_feed_fd" => c_serve_asgi_feed_fd(asgi::feed_fd), c"serve_asgi_feed_fd()\n--\n\nMake this interpreter's request feed; the descriptor its loop watches.";
        args c"serve_asgi_feed_close" => c_serve_asgi_feed_close(asgi::feed_close), c"serve_asgi_feed_close()\n--\n\nForget this interpreter's request feed.";
        args c"serve_asgi_feed" => c_serve_asgi_feed(asgi::feed), c"serve_asgi_feed(id, /)\n--\n\nWait until closed or retired (None) or the loop stopped taking requests (False).";
        args c"serve_asgi_want" => c_serve_asgi_want(asgi::want), c"serve_asgi_want(id, /)\n--\n\nThe loop found no request to take: wake it when one is queued.";
        args c"serve_asgi_feed_stop" => c_serve_asgi_feed_stop(asgi::feed_stop), c"serve_asgi_feed_stop()\n--\n\nThe loop takes no more requests: the feed returns False.";
        args c"serve_asgi_woken" => c_serve_asgi_woken(asgi::woken), c"serve_asgi_woken()\n--\n\nThe loop was woken: read its descriptor, drop the wake-up.";
        args c"serve_ws_fd" => c_serve_ws_fd(websocket::fd), c"serve_ws_fd()\n--\n\nThe descriptor this interpreter's loop watches for WebSocket wake-ups.";
        args c"serve_ws_fd_close" => c_serve_ws_fd_close(websocket::fd_close), c"serve_ws_fd_close()\n--\n\nStop WebSocket wake-ups for this interpreter.";
        args c"serve_ws_ready" => c_serve_ws_ready(websocket::ready_ids), c"serve_ws_ready()\n--\n\nRequest ids of this interpreter's WebSockets that can go on: [rid].";
        args c"serve_ws_accept" => c_serve_ws_accept(websocket::accept), c"serve_ws_accept(rid, subprotocol, headers, /)\n--\n\nAccept a WebSocket request (101); False if the client is gone.";
        args c"serve_ws_recv" => c_serve_ws_recv(websocket::recv), c"serve_ws_recv(rid, /)\n--\n\nThe next message (str or bytes), None if none yet, (code, reason) once closed.";
        args c"serve_ws_send" => c_serve_ws_send(websocket::send), c"serve_ws_send(rid, data, /)\n--\n\nQueue a message: True, False if the client is behind, None once closed.";
        args c"serve_ws_close" => c_serve_ws_close(websocket::close), c"serve_ws_close(rid, code, reason, /)\n--\n\nClose an accepted WebSocket; False if already closed.";
        args c"serve_stuck" => c_serve_stuck(servers::stuck), c"serve_stuck(after, /)\n--\n\nIds of interpreters still busy with a request after seconds since it was interrupted.";
        args c"serve_retire" => c_serve_retire(servers::retire), c"serve_retire(interp_id, /)\n--\n\nThe interpreter's threads take no further request.";
        args c"serve_retired" => c_serve_retired(servers::retired), c"serve_retired()\n--\n\nWhether the calling interpreter was retired (it takes no further request).";
        args c"serve_watch" => c_serve_watch(watch::start), c"serve_watch(roots, include, quiet, /)\n--\n\nWatch directory trees (bytes paths) for files matching include patterns; return an id.";
        args c"serve_watch_next" => c_serve_watch_next(watch::next), c"serve_watch_next(id, timeout, /)\n--\n\nWait for the next burst of changes: [bytes path], False on timeout, None once closed.";
        args c"serve_watch_close" => c_serve_watch_close(watch::close), c"serve_watch_close(id, /)\n--\n\nStop watching; a waiting serve_watch_next returns None.";
        args c"serve_release_memory" => c_serve_release_memory(servers::release_memory), c"serve_release_memory()\n--\n\nGive the C allocator's free memory back to the system; True if any was released.";
    ];
}

/// Add the `serve_*` functions to `module` (in every interpreter).
pub(crate) fn add_functions(module: Borrowed<'_, '_>) -> PyResult<()> {
    // SAFETY: the table is static, zero-terminated, made of `method!` entries.
    unsafe { crate::ffi::module::add_functions(module, (&raw mut METHODS).cast()) }
}
