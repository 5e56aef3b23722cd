import Foundation
import KairanAPI
import KairanDelivery
import KairanStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import KairanServer

/// The database goes away under a running server: every request still ends within the
/// request timeout (a JSON 503 with Retry-After), and the server recovers by itself. Runs on
/// a private cluster, since freezing and restarting the suite's shared one would fail every
/// other test.
@Suite(.serialized) struct DatabaseFaultTests {
    static let requestTimeout: Duration = .seconds(3)

    /// A cluster of its own; with `diskBytes`, on a tmpfs of that size (root only).
    private func withPrivateCluster(diskBytes: Int? = nil, _ body: @escaping @Sendable (EmbeddedPostgres, DatabaseURL) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-fault-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if let diskBytes { try Self.mount(["-t", "tmpfs", "-o", "size=\(diskBytes),mode=0755", "tmpfs", folder.path]) }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        defer {
            if diskBytes != nil { try? Self.mount(["-l", folder.path], tool: "/bin/umount") }
            try? FileManager.default.removeItem(at: folder)
        }
        let cluster = try EmbeddedPostgres(dataFolder: folder.path, logger: TestDatabase.logger)
        let lease = try await cluster.start()
        defer { lease.stop() }
        try await cluster.url.withSingleConnection(logger: TestDatabase.logger) { db in
            _ = try await Migrator(directory: TestDatabase.schemaDirectory).migrate(on: db)
            // As in the suite's template: the test's minutes-old resident posts dozens of times.
            try await db.query("UPDATE moderation_settings SET new_account_posts_per_hour = 1000")
        }
        try await body(cluster, cluster.url)
    }

    static func mount(_ arguments: [String], tool: String = "/bin/mount") throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["command": ([tool] + arguments).joined(separator: " ")]) }
    }

    /// One request, timed; it must end in time whatever it answers.
    private func timed(_ what: String, _ request: () async throws -> (status: Int, code: String?)) async throws -> (status: Int, code: String?) {
        let start = ContinuousClock.now
        let result = try await request()
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < Self.requestTimeout + .seconds(3), "\(what) took \(elapsed)")
        return result
    }

    private func waitUntilHealthy(_ what: String, _ check: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if (try? await check()) == true { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("the server did not recover: \(what)")
    }

    @Test(.timeLimit(.minutes(3)))
    func aFrozenThenRestartedDatabaseGets503sInTimeAndTheServerRecovers() async throws {
        try await withPrivateCluster { cluster, url in
            try await serveLive(url: url, configure: { $0.requestTimeout = Self.requestTimeout }) { client in
                let taro = try await client.resident("taro@example.jp")
                let group = try await client.createGroup(by: taro)
                let (thread, _) = try await client.createThread(in: group, by: taro)
                func me() async throws -> (status: Int, code: String?) {
                    let response = try await client.send(.get, "/v1/me", token: taro.token)
                    return (Int(response.status.code), response.status == .ok ? nil : try response.errorCode())
                }
                func post(_ body: String) async throws -> (status: Int, code: String?) {
                    let response = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": body]), token: taro.token)
                    return (Int(response.status.code), response.status == .created ? nil : try response.errorCode())
                }

                // Frozen: every process of the cluster stopped, as with SIGSTOP by hand.
                let frozen = try cluster.serverProcessIDs()
                for pid in frozen { kill(pid, SIGSTOP) }
                do {
                    let read = try await timed("GET /v1/me, database frozen") { try await me() }
                    #expect(read.status == 503 && ["timeout", "database_unavailable"].contains(read.code ?? ""), "\(read)")
                    let write = try await timed("POST a post, database frozen") { try await post("凍結中の投稿") }
                    #expect(write.status == 503, "\(write)")
                    let ready = try await timed("/readyz, database frozen") {
                        (Int(try await client.send(.get, "/readyz").status.code), nil)
                    }
                    #expect(ready.status == 503)
                }
                for pid in frozen { kill(pid, SIGCONT) }
                try await waitUntilHealthy("after the freeze") { try await me().status == 200 }

                // Restarted while residents keep posting: each request ends in time with 201
                // or 503; after the restart posting works again, and every post answered 201
                // is stored.
                let restart = Task.detached { try cluster.restart() }
                var created = 0
                var refused = 0
                for index in 0..<20 {
                    let result = try await timed("POST during the restart") { try await post("再起動中の投稿 \(index)") }
                    #expect(result.status == 201 || result.status == 503, "\(result)")
                    if result.status == 201 { created += 1 } else { refused += 1 }
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await restart.value
                try await waitUntilHealthy("after the restart") { try await post("再起動後の投稿").status == 201 }
                let stored = try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                    var count = 0
                    for try await n in try await db.query(
                        "SELECT count(*)::int FROM posts WHERE body LIKE '再起動中の投稿%'").decode(Int.self) { count = n }
                    return count
                }
                #expect(stored >= created, "every acknowledged post is stored (\(created) acknowledged, \(refused) refused)")
                #expect(try await client.send(.get, "/readyz").status == .ok)
            }
        }
    }
    /// Load is shed at the door: with one request running and one waiting (the database
    /// frozen under them), a third is answered 503 `overloaded` at once with Retry-After,
    /// health still answers, and the two held requests finish once the database is back.
    @Test(.timeLimit(.minutes(2)))
    func requestsBeyondTheAdmissionLimitAreRefusedAtOnceAndTheOthersFinish() async throws {
        try await withPrivateCluster { cluster, url in
            try await serveLive(url: url, configure: {
                $0.requestTimeout = .seconds(20)
                $0.admission = AdmissionLimits(running: 1, waiting: 1, maxWait: .seconds(15))
            }) { client in
                let taro = try await client.resident("taro@example.jp")
                let frozen = try cluster.serverProcessIDs()
                for pid in frozen { kill(pid, SIGSTOP) }
                // Whatever happens below, the cluster must not stay frozen.
                defer { for pid in frozen { kill(pid, SIGCONT) } }
                // Each on a connection of its own (the test client has one, and waits in turn).
                let port = try #require(client.port)
                let held = (0..<2).map { _ in
                    Task {
                        try await RawHTTPClient.exchange(
                            port: port, RawHTTPClient.request("GET", "/v1/me", token: taro.token),
                            timeout: .seconds(30)).statuses.first
                    }
                }
                // Both taken in, as the metrics page says: one running, one in line.
                let deadline = ContinuousClock.now + .seconds(10)
                var load = ""
                while ContinuousClock.now < deadline {
                    let metrics = String(buffer: try await client.send(.get, "/metrics").body)
                    load = metrics.split(separator: "\n").filter { $0.hasPrefix("kairan_requests_running ") || $0.hasPrefix("kairan_requests_waiting ") }.joined(separator: ", ")
                    if load == "kairan_requests_running 1, kairan_requests_waiting 1" { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(load == "kairan_requests_running 1, kairan_requests_waiting 1")
                let refused = try await timed("a request beyond the limit") {
                    let response = try await client.send(.get, "/v1/me", token: taro.token)
                    #expect(response.headers[.retryAfter].flatMap(Int.init).map { (1...30).contains($0) } == true, "Retry-After")
                    return (Int(response.status.code), try? response.errorCode())
                }
                #expect(refused.status == 503 && refused.code == "overloaded", "\(refused)")
                // A browser asking for a page gets a page, in Japanese, with the same wait.
                let page = try await client.execute(uri: "/", method: .get, headers: [.accept: "text/html"], body: nil)
                #expect(page.status == .serviceUnavailable && page.headers[.contentType] == "text/html; charset=utf-8")
                #expect(String(buffer: page.body).contains("ただいま混み合っています") && page.headers[.retryAfter] != nil)
                #expect(try await client.send(.get, "/healthz").status == .ok, "health is never held back")
                for pid in frozen { kill(pid, SIGCONT) }
                for request in held { #expect(try await request.value == 200) }
                #expect(try await client.send(.get, "/v1/me", token: taro.token).status == .ok)
            }
        }
    }

    /// A resident whose phone gives up (closes the connection) while the database is slow
    /// has not posted: the request is stopped before its commit. A post whose client waits
    /// goes through once the database answers.
    @Test(.timeLimit(.minutes(2)))
    func aPostWhoseClientClosedTheConnectionIsNotStored() async throws {
        try await withPrivateCluster { cluster, url in
            try await serveLive(url: url, configure: { $0.requestTimeout = .seconds(20) }) { client in
                let port = try #require(client.port)
                let taro = try await client.resident("taro@example.jp")
                let group = try await client.createGroup(by: taro)
                let (thread, _) = try await client.createThread(in: group, by: taro)
                func request(_ body: String) -> String {
                    RawHTTPClient.request("POST", "/v1/threads/\(thread)/posts", json: jsonObject(["body": body]), token: taro.token)
                }
                let frozen = try cluster.serverProcessIDs()
                for pid in frozen { kill(pid, SIGSTOP) }
                let patient = Task { try await RawHTTPClient.exchange(port: port, request("待っていた投稿"), timeout: .seconds(30)) }
                // Gives up after a second and closes its socket.
                let gaveUp = try await RawHTTPClient.exchange(port: port, request("あきらめた投稿"), timeout: .seconds(1))
                #expect(gaveUp.statuses.isEmpty, "no answer while the database is frozen: \(gaveUp.response.prefix(200))")
                try await Task.sleep(for: .milliseconds(500))
                for pid in frozen { kill(pid, SIGCONT) }
                let answered = try await patient.value
                #expect(answered.statuses.first == 201, "\(answered.response.prefix(300))")
                try await Task.sleep(for: .seconds(1))
                let stored = try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                    var bodies: [String] = []
                    for try await body in try await db.query("SELECT body FROM posts ORDER BY id").decode(String.self) { bodies.append(body) }
                    return bodies
                }
                #expect(stored.contains("待っていた投稿"))
                #expect(!stored.contains("あきらめた投稿"), "the abandoned post was stopped before its commit")
            }
        }
    }
    /// PostgreSQL restarted while residents post, a live socket listens and a 防災メール is
    /// going out: readiness turns and comes back, requests in the gap end fast, every post
    /// acknowledged is stored and reaches the socket, and the alert completes with no job
    /// stuck or sent twice beyond the wire.
    @Test(.timeLimit(.minutes(4)))
    func aRestartDuringAnAlertAndPostsLosesNothing() async throws {
        let sink = ScriptedSMTPServer()
        try await sink.start()
        let recipients = 2_000
        try await withPrivateCluster { cluster, url in
            try await serveLive(url: url, clock: .running(), configure: {
                $0.requestTimeout = Self.requestTimeout
                $0.mail.destination = .relay(SMTPRelayConfiguration(host: "127.0.0.1", port: sink.port, heloName: "kairan.localhost", maxConnections: 4))
            }) { client in
                let port = try #require(client.port)
                let taro = try await client.resident("taro@example.jp")
                let group = try await client.createGroup(by: taro)
                let (thread, _) = try await client.createThread(in: group, by: taro)
                let live = StreamClient.open(port: port, token: taro.token)
                defer { live.close() }
                live.subscribe("thread:\(thread)")
                _ = try await live.waitForSubscribed("thread:\(thread)")

                try await enqueueUrgentAlert(toSubscribers: recipients, on: url)
                let started = ContinuousClock.now + .seconds(60)
                while sink.transactions.count < 200 && ContinuousClock.now < started { try await Task.sleep(for: .milliseconds(10)) }
                #expect(sink.transactions.count >= 200, "the alert is going out")

                // Readiness, watched throughout on connections of its own (a fast restart
                // is over in well under a second).
                let readiness = Task {
                    var seen: [Int] = []
                    while !Task.isCancelled {
                        let exchange = try? await RawHTTPClient.exchange(port: port, RawHTTPClient.request("GET", "/readyz"),
                                                                        timeout: Self.requestTimeout + .seconds(2))
                        // No answer: the watcher itself was cancelled mid-request.
                        if let status = exchange?.statuses.first, seen.last != status { seen.append(status) }
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    return seen
                }
                try await Task.sleep(for: .milliseconds(300))
                // Down for five seconds, longer than the readiness probe waits.
                let restart = Task.detached { try cluster.restart(downFor: 5) }
                var acknowledged: [Int] = []
                for index in 0..<30 {
                    let response = try await timed("POST during the restart") {
                        let response = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "再起動中 \(index)"]), token: taro.token)
                        if response.status == .created, let id = try response.json()["id"] as? Int { acknowledged.append(id) }
                        return (Int(response.status.code), response.status == .created ? nil : try response.errorCode())
                    }
                    #expect(response.status == 201 || response.status == 503, "\(response)")
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await restart.value
                try await waitUntilHealthy("after the restart") { try await client.send(.get, "/readyz").status == .ok }
                let last = try await client.post("再起動後", in: thread, by: taro)
                acknowledged.append(last)
                readiness.cancel()
                let readinessSeen = await readiness.value
                #expect(readinessSeen.first == 200 && readinessSeen.contains(503) && readinessSeen.last == 200, "readiness turned and came back: \(readinessSeen)")

                // Every acknowledged post is stored and reached the socket that stayed open.
                let stored = try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                    var ids: Set<Int> = []
                    for try await id in try await db.query("SELECT id::int FROM posts WHERE thread_id = \(thread)").decode(Int.self) { ids.insert(id) }
                    return ids
                }
                #expect(Set(acknowledged).isSubset(of: stored), "acknowledged posts are stored")
                try await live.wait(for: "every acknowledged post on the socket") { _ in
                    let seen = Set(live.events("thread:\(thread)").compactMap { ($0["data"] as? [String: Any])?["id"] as? Int })
                    return Set(acknowledged).isSubset(of: seen) || live.received.contains { $0["type"] as? String == "gap" }
                }

                // The alert completes: nobody missed, nobody twice beyond what was on the wire.
                let finish = ContinuousClock.now + .seconds(120)
                var states = try await deliveryStates(on: url)
                while ContinuousClock.now < finish, states != ["sent": recipients] {
                    try await Task.sleep(for: .milliseconds(200))
                    states = try await deliveryStates(on: url)
                }
                #expect(states == ["sent": recipients], "the alert completed, no job stuck: \(states)")
                let accepted = sink.transactions.flatMap(\.recipients)
                #expect(Set(accepted).count == recipients)
                #expect(accepted.count - Set(accepted).count <= 4 * MailDeliveryWorker.unsafeAfterKill,
                        "sent twice: \(accepted.count - Set(accepted).count)")
                print("database restart: \(acknowledged.count) posts acknowledged, readiness \(readinessSeen), "
                      + "\(accepted.count - Set(accepted).count) mails sent twice of \(recipients)")
            }
        }
        await sink.stop()
    }
    /// The database's disk fills up while a resident posts: each post is either stored (201)
    /// or refused with a JSON 503 (never a 500, never a hang), and once there is room again
    /// posting goes on and every acknowledged post is there.
    @Test(.enabled(if: getuid() == 0, "mounting a small tmpfs needs root"), .timeLimit(.minutes(3)))
    func aFullDatabaseDiskRefusesWritesClearlyAndLosesNothing() async throws {
        try await withPrivateCluster(diskBytes: 160 << 20) { cluster, url in
            try await serveLive(url: url, configure: { $0.requestTimeout = Self.requestTimeout }) { client in
                let taro = try await client.resident("taro@example.jp")
                let group = try await client.createGroup(by: taro)
                let (thread, _) = try await client.createThread(in: group, by: taro)
                // Everything but 1 MiB of the disk taken by a filler file.
                let filler = cluster.dataDirectory.deletingLastPathComponent().appendingPathComponent("filler")
                let handle = try FileHandle(forWritingTo: { FileManager.default.createFile(atPath: filler.path, contents: nil); return filler }())
                let block = Data(count: 1 << 20)
                while true {
                    var stats = statvfs()
                    guard statvfs(filler.path, &stats) == 0 else { break }
                    let free = Int(stats.f_bavail) * Int(stats.f_frsize)
                    if free <= 2 << 20 { break }
                    do { try handle.write(contentsOf: block) } catch { break }
                }
                try handle.close()

                // Random kanji: text that does not compress, so each post takes its room.
                func body() -> String {
                    String(String.UnicodeScalarView((0..<2000).map { _ in Unicode.Scalar(UInt32.random(in: 0x4E00...0x9FFF))! }))
                }
                var acknowledged: [Int] = []
                var statuses: [Int: Int] = [:]
                for index in 0..<400 {
                    let result = try await timed("POST on a full disk") {
                        let response = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "\(index) \(body())"]), token: taro.token)
                        if response.status == .created, let id = try response.json()["id"] as? Int { acknowledged.append(id) }
                        return (Int(response.status.code), response.status == .created ? nil : try response.errorCode())
                    }
                    statuses[result.status, default: 0] += 1
                    #expect(result.status == 201 || result.status == 503, "\(result)")
                    if statuses[503, default: 0] >= 5 { break }
                }
                #expect(statuses[503, default: 0] >= 5, "the disk filled: \(statuses)")

                // Room again: posting goes on, and nothing acknowledged is missing.
                try FileManager.default.removeItem(at: filler)
                try await waitUntilHealthy("after the disk was freed") {
                    try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "空きができた"]), token: taro.token).status == .created
                }
                let stored = try await url.withSingleConnection(logger: TestDatabase.logger) { db in
                    var ids: Set<Int> = []
                    for try await id in try await db.query("SELECT id::int FROM posts WHERE thread_id = \(thread)").decode(Int.self) { ids.insert(id) }
                    return ids
                }
                #expect(Set(acknowledged).isSubset(of: stored), "every acknowledged post is stored")
                print("database disk full: \(acknowledged.count) posts stored before the disk filled, then \(statuses[503, default: 0]) refused with 503")
            }
        }
    }
}
