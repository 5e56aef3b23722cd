import Foundation
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

    private func withPrivateCluster(_ body: @escaping @Sendable (EmbeddedPostgres, DatabaseURL) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kairan-fault-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        defer { try? FileManager.default.removeItem(at: folder) }
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
}
