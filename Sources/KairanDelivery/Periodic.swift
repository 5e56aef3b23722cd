import ServiceLifecycle

/// Runs `pass` every `interval` until graceful shutdown. The first pass comes after one
/// interval: periodic work is never urgent, and the database pool starts alongside the
/// service, not necessarily before it. Each pass is its own unit of work (its own
/// transactions), so stopping between passes leaves nothing half-done.
func runPeriodically(every interval: Duration, _ pass: @escaping @Sendable () async -> Void) async {
    do {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await pass()
            }
        }
    } catch {
        // Cancelled (graceful shutdown): nothing to finish.
    }
}
