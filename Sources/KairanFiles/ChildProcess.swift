import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a short-lived program and waits for it, with posix_spawn and waitpid.
///
/// Foundation's `Process` is not used here: it learns of the child's exit through a
/// descriptor that `pg_ctl start` hands down to the daemonised postmaster, so waiting for
/// `pg_ctl` would last as long as the database server does.
///
/// Blocking: call it from a thread pool when the server is running.
public enum ChildProcess {
    public struct Result: Sendable {
        /// The exit code, or 128 + the signal that ended it.
        public let status: Int32
        /// What it wrote to stdout and stderr.
        public let output: String
        /// It ran past its time and was killed.
        public let timedOut: Bool
        /// Its caller gave up on it (`cancelled` said so) and it was killed.
        public let cancelled: Bool
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    /// - Parameters:
    ///   - environment: `NAME=value` entries for the child; nil hands down ours. A program
    ///     that reads untrusted input gets a small one: our environment holds secrets
    ///     (object-store keys, the database password).
    ///   - timeout: killed (SIGKILL) when it runs longer.
    ///   - cancelled: asked while it runs (with a timeout); true kills it.
    public static func run(_ executable: String, _ arguments: [String], environment: [String]? = nil, timeout: Duration? = nil,
                           cancelled: @Sendable () -> Bool = { false }) throws -> Result {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-\(UUID().uuidString).out").path
        defer { unlink(outputPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Hand the child nothing else of ours: no socket, no pipe, no database connection
        // should live on in a daemon started through it, nor reach a converter of untrusted files.
        for descriptor in openDescriptors() where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }

        var pid: pid_t = 0
        let spawned = envp.map { envp in
            envp.withUnsafeBufferPointer { posix_spawn(&pid, executable, &actions, nil, argv, UnsafeMutablePointer(mutating: $0.baseAddress)) }
        } ?? posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw SpawnError(description: "could not start \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var timedOut = false
        var gaveUp = false
        if let timeout {
            // Polled, not signalled: the child is ours to reap, so it cannot be killed after
            // another process took its pid.
            let deadline = ContinuousClock.now + timeout
            while true {
                let reaped = waitpid(pid, &status, WNOHANG)
                if reaped == pid { break }
                if reaped == -1, errno != EINTR { throw SpawnError(description: "waitpid failed for \(executable)") }
                let late = ContinuousClock.now >= deadline
                if late || cancelled() {
                    kill(pid, SIGKILL)
                    timedOut = late
                    gaveUp = !late
                    while waitpid(pid, &status, 0) == -1, errno == EINTR {}
                    break
                }
                usleep(2_000)
            }
        } else {
            while waitpid(pid, &status, 0) == -1 {
                guard errno == EINTR else { throw SpawnError(description: "waitpid failed for \(executable)") }
            }
        }
        // The output only explains a failure: its last 4 KB (a missing file leaves it empty).
        var output = ""
        if let handle = FileHandle(forReadingAtPath: outputPath) {
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
            output = String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
        }
        // WIFEXITED / WEXITSTATUS, spelled out: the C macros are not imported into Swift.
        let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exitCode, output: output, timedOut: timedOut, cancelled: gaveUp)
    }

    /// Our open descriptors, from /proc/self/fd (a server with thousands of sockets has them
    /// far above 1024). glibc's `posix_spawn_file_actions_addclosefrom_np` would do it in one
    /// step, but Swift's Glibc module does not export it.
    static func openDescriptors() -> [Int32] {
        // Without /proc: the first 1024.
        let candidates = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? Array(0..<1024)
        // The listing's own descriptor is closed by now: keep only those still open.
        return candidates.filter { fcntl($0, F_GETFD) != -1 }
    }
}
