import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The disk under the Maildir fills up in the middle of an alert: the jobs it could not
/// take wait with the system's reason on record, no half-written message is ever visible,
/// and once there is room again every subscriber gets theirs, once.
@Suite struct DiskFullTests {
    private static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["mount": arguments.joined(separator: " ")]) }
    }

    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root"), .timeLimit(.minutes(3)))
    func aFullMaildirKeepsTheRestWaitingAndLosesNothing() async throws {
        let recipients = 120
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // A 128 KiB disk: room for a few dozen messages (each takes at least a 4 KiB page).
        try Self.run(["-t", "tmpfs", "-o", "size=128k,mode=0755", "tmpfs", folder.path])
        defer {
            let unmount = Process()
            unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
            unmount.arguments = ["-l", folder.path]
            try? unmount.run()
            unmount.waitUntilExit()
            try? FileManager.default.removeItem(at: folder)
        }
        try await TestDatabase.withFreshDatabase { url in
            try await enqueueUrgentAlert(toSubscribers: recipients, domains: ["example.jp"], on: url)
            let maildir = folder.appendingPathComponent("maildir")
            let worker = try KairanProcess(["serve", "--role", "worker", "--port", "\(try freeTCPPort())", "--inbound-smtp", "off",
                                            "--maildir", maildir.path, "--log-level", "warning"],
                                           environment: ["KAIRAN_DATABASE_URL": url.urlString])
            defer { worker.terminate() }
            func files(_ sub: String) -> [String] {
                ((try? FileManager.default.contentsOfDirectory(atPath: maildir.appendingPathComponent(sub).path)) ?? []).sorted()
            }
            func refusals() async throws -> [String] {
                try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                    var replies: [String] = []
                    for try await reply in try await db.query(
                        "SELECT last_reply FROM deliveries WHERE state = 'queued' AND last_reply IS NOT NULL").decode(String.self) {
                        replies.append(reply)
                    }
                    return replies
                }
            }

            // The disk fills: what was written is sent, the rest waits with the reason.
            var waiting: [String] = []
            let full = Date().addingTimeInterval(60)
            while Date() < full {
                waiting = try await refusals()
                if waiting.count + (try await deliveryStates(on: url)["sent"] ?? 0) == recipients { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let states = try await deliveryStates(on: url)
            let sent = states["sent"] ?? 0
            #expect(sent > 0 && sent < recipients, "the disk filled mid-alert: \(states)")
            #expect(waiting.count == recipients - sent, "every job not written waits: \(states)")
            #expect(waiting.allSatisfy { $0.hasPrefix("452") && $0.contains("No space left on device") }, "the reason is on record: \(Set(waiting))")
            #expect(files("new").count == sent, "one file per job recorded sent")
            #expect(files("tmp").isEmpty, "nothing half-written left behind")
            #expect(states["failed"] == nil && states["dead"] == nil)

            // Room again: the waiting jobs go out at their retry, each exactly once.
            try Self.run(["-o", "remount,size=16m", folder.path])
            let done = Date().addingTimeInterval(90)
            while Date() < done, try await deliveryStates(on: url)["sent"] != recipients {
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(try await deliveryStates(on: url) == ["sent": recipients], "\(worker.output.suffix(1500))")
            let written = files("new")
            #expect(written.count == recipients && Set(written).count == recipients)
            #expect(files("tmp").isEmpty)
            // Every message whole: its headers, its body and the last line of its footer.
            for name in written {
                let text = try String(contentsOf: maildir.appendingPathComponent("new").appendingPathComponent(name), encoding: .utf8)
                #expect(text.hasPrefix("Return-Path: <") && text.contains("\r\n\r\n") && text.hasSuffix("\r\n"), "\(name) is whole")
            }
        }
    }
}
