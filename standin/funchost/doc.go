// Package funchost is a stand-in for the Azure Functions host running a custom
// handler whose functions are Service Bus triggered or timer triggered. Tests and `make run` use it
// to run the real ./handler exactly as Azure runs it, with no Azure account.
// Its specification is docs/functions-host.md; this package follows its §9
// checklist.
//
// What it does, and why each part matters to a handler:
//
//   - Configuration: host.json (customHandler.description, functionTimeout,
//     extensions.serviceBus) and every */function.json of the app root, with
//     %SETTING% references resolved from the app settings. Only what the
//     handler's app uses is supported — a serviceBusTrigger on a queue, with
//     cardinality "one", dataType "binary", autoCompleteMessages on, and a
//     connection setting holding a connection string; anything else is refused
//     at New with a reason.
//   - Settings: local.settings.json Values (else local.settings.sample.json); a
//     variable already set in the environment wins, as in Core Tools; Options.Settings
//     wins over both.
//   - Process: one handler process, started with the host's environment, the
//     settings and FUNCTIONS_CUSTOMHANDLER_PORT/_WORKER_ID (and the legacy
//     FUNCTIONS_HTTPWORKER_*), FUNCTIONS_APP_ROOT_PATH, in the working directory,
//     with no arguments of the host's own. Ready when GET / gets any answer
//     (polled every 25 ms, 30 s limit). Stdout lines are logged as Information,
//     stderr lines as Error (Warning when they mention "warn").
//   - Messages: azservicebus in peek-lock mode, up to maxConcurrentCalls
//     invocations per function, each message's lock renewed for at most
//     maxAutoLockRenewalDuration. Each invocation is a chunked POST to
//     http://127.0.0.1:{port}/{Function} with the host's headers and a body built
//     by BuildInvocationBody (goldens in testdata/, described in
//     testdata/README.md).
//   - Timers: a timerTrigger's NCRONTAB schedule (UTC), one run at a time, a
//     past-due run at start-up when the recorded next occurrence has passed
//     (Options.TimerStatusDir keeps the status across runs), else runOnStartup; the
//     request carries the TimerInfo object (BuildTimerInvocationBody).
//   - Disabled functions: AzureWebJobs.<name>.Disabled or AzureWebJobs_<name>_Disabled
//     true or 1 starts no trigger for that function.
//   - Replies: 2xx with application/json (or text/json) and a JSON object
//     completes the message and logs its Logs entries; any other answer, or none,
//     abandons it; an empty or null body makes the invocation hang until
//     functionTimeout, which kills and restarts the handler (counted in
//     Stats.Hangs, so a test can assert a handler never does it).
//   - Supervision: at functionTimeout the invocation fails (its message is
//     abandoned) but its request is left open; if the handler has not finished
//     it 2 s later (the WebJobs grace period) the handler is killed (SIGKILL)
//     and restarted, failing whatever else was in flight. A non-zero exit
//     restarts it, and the third such error within 30 minutes stops the host;
//     exit code 0 is not restarted (the function stays broken, as in Azure);
//     exit code 200 is a clean restart.
//   - Locks: renewed while an invocation runs, until a renewal fails with an
//     error that is not transient.
//   - Stop: cancelling Run's context stops receiving, lets in-flight invocations
//     finish (Options.DrainTimeout), abandons the rest, then kills the handler
//     (SIGKILL; the real host never sends SIGTERM). The handler runs in its own
//     process group and, on Linux, dies with the host (Pdeathsig).
//
// Observability: Options.OnInvocation reports every settled message
// (Invocation), Options.HandlerStdout/HandlerStderr receive the handler's raw
// output lines (its per-invocation JSON log lines), and Stats counts restarts,
// worker errors, timeouts and hangs. HandlerPID lets a test kill the handler.
//
// Known differences from the real host: no HTTP or other triggers, no topic
// subscriptions, no output bindings, no sessions or batches, no dataType "string"
// (the Newtonsoft re-encoding and body-property injection it brings), no retry
// policies (RetryContext is never sent), no TimeSpan timer schedules, no singleton
// timer lock across hosts, timer occurrences missed during a long run skipped (the
// next one counts from the end of the run), no connections by
// fullyQualifiedNamespace and a credential, and ApplicationProperties are written
// in key order because azservicebus does not expose the wire order.
package funchost
