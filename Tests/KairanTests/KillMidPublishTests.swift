import Foundation
import KairanStore
import PostgresNIO
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `kairan` process killed with SIGKILL while teachers publish urgent notices, residents
/// post and a moderator removes posts: after the restart each of those happened completely
/// (with its recipients, mail jobs, events and notifications) or not at all, and everything
/// the server acknowledged is there.
@Suite struct KillMidPublishTests {
    enum Kind: String, Sendable { case notice, post, removal }
    /// What the server answered before it died: the kind of work, the status, what it was.
    final class Answers: Sendable {
        private let value = Mutex<[(Kind, Int, String)]>([])
        func withLock<T>(_ body: (inout [(Kind, Int, String)]) -> T) -> T { value.withLock { body(&$0) } }
    }

    @Test(.timeLimit(.minutes(4)))
    func eachPublishIsWholeOrAbsentAfterAKill() async throws {
        try await NoticeTown.with(start: Date()) { town in
            let client = town.client
            let school = try await town.school("町立第一小学校", prefix: "ichi")
            // 24 children in 1-1, each with a guardian by mail; 4 also have a parent in the app.
            var appGuardians: [Resident] = []
            for n in 0..<24 {
                let child = try await town.enrol(school, "児童 \(n)", in: "1-1")
                try await town.mailGuardian(school, child: child, name: "保護者 \(n)", email: "hogosha\(n)@docomo.ne.jp")
                if n < 4 {
                    let parent = try await client.resident("parent\(n)@example.jp", name: "アプリ 保護者\(n)")
                    try await town.link(parent, to: child, at: school)
                    appGuardians.append(parent)
                }
            }
            // A community group: a thread, posts a neighbour flagged, the town's moderator.
            let author = try await client.resident("author@example.jp", name: "投稿 者")
            // New accounts may flag five posts an hour: four neighbours flag five each.
            var reporters: [Resident] = []
            for n in 0..<4 { reporters.append(try await client.resident("reporter\(n)@example.jp", name: "通報 者\(n)")) }
            let moderator = try await client.resident("moderator@town.example.jp", name: "町 モデレーター")
            try await grantRole("town_moderator", to: "moderator@town.example.jp", in: town.url)
            let group = try await client.createGroup(by: author)
            for reporter in reporters {
                let joined = try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: reporter.token)
                try #require(joined.status == .ok || joined.status == .created, "\(joined.text)")
            }
            let (thread, _) = try await client.createThread(in: group, by: author)
            for n in 0..<20 {
                let post = try await client.post("通報される投稿 \(n)", in: thread, by: author)
                let flagged = try await client.send(.post, "/v1/posts/\(post)/flags", json: jsonObject(["reason": "spam"]), token: reporters[n / 5].token)
                try #require(flagged.status == .created, "\(flagged.text)")
            }
            let queue = try await client.send(.get, "/v1/moderation/items?limit=100", token: moderator.token)
            let items = try queue.items().compactMap { $0["id"] as? Int }
            try #require(items.count == 20)

            // The real binary on the same database, serving the API only (mail jobs stay
            // queued, so they can be counted).
            let port = try freeTCPPort()
            func start() throws -> KairanProcess {
                try KairanProcess(["serve", "--role", "api", "--port", "\(port)", "--log-level", "warning"],
                                  environment: ["KAIRAN_DATABASE_URL": town.url.urlString])
            }
            func waitUntilServing() async throws {
                for _ in 0..<200 {
                    if let exchange = try? await RawHTTPClient.exchange(port: port, RawHTTPClient.request("GET", "/readyz"), timeout: .seconds(2)),
                       exchange.statuses == [200] { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
                Issue.record("the server did not start")
            }
            let server = try start()
            try await waitUntilServing()
            let acknowledged = Answers()
            // Three streams of work at once until the kill; each request's answer, if any,
            // is noted with what it said.
            let work = Task {
                await withTaskGroup(of: Void.self) { group in
                    for n in 0..<20 {
                        group.addTask {
                            let body = jsonObject(["title": "緊急連絡 \(n)", "body": "不審者情報です。", "urgent": true, "targets": ["all": true]])
                            let answer = try? await RawHTTPClient.exchange(
                                port: port, RawHTTPClient.request("POST", "/v1/organizations/\(school.id)/notices", json: body, token: school.teacher.token), timeout: .seconds(20))
                            if let status = answer?.statuses.first { acknowledged.withLock { $0.append((.notice, status, "緊急連絡 \(n)")) } }
                        }
                        group.addTask {
                            let body = jsonObject(["body": "再起動テストの投稿 \(n)"])
                            let answer = try? await RawHTTPClient.exchange(
                                port: port, RawHTTPClient.request("POST", "/v1/threads/\(thread)/posts", json: body, token: author.token), timeout: .seconds(20))
                            if let status = answer?.statuses.first { acknowledged.withLock { $0.append((.post, status, "再起動テストの投稿 \(n)")) } }
                        }
                        group.addTask {
                            let body = jsonObject(["action": "delete", "reason": "ガイドライン第3条"])
                            let answer = try? await RawHTTPClient.exchange(
                                port: port, RawHTTPClient.request("POST", "/v1/moderation/items/\(items[n])/actions", json: body, token: moderator.token), timeout: .seconds(20))
                            if let status = answer?.statuses.first { acknowledged.withLock { $0.append((.removal, status, "\(items[n])")) } }
                        }
                    }
                }
            }
            // Killed once some of each have been answered and others are surely under way.
            let killBy = ContinuousClock.now + .seconds(30)
            func answeredOfEachKind() -> Int {
                acknowledged.withLock { answers in [Kind.notice, .post, .removal].map { kind in answers.filter { $0.0 == kind }.count }.min() ?? 0 }
            }
            while ContinuousClock.now < killBy, answeredOfEachKind() < 3 { try await Task.sleep(for: .milliseconds(2)) }
            kill(server.process.processIdentifier, SIGKILL)
            _ = await server.exitCode()
            await work.value
            let answers = acknowledged.withLock { $0 }
            #expect(answers.allSatisfy { [200, 201].contains($0.1) }, "\(answers.filter { ![200, 201].contains($0.1) })")
            #expect(answers.count < 60, "killed mid-work: \(answers.count) of 60 answered")
            #expect(answeredOfEachKind() >= 3, "some of each kind answered before the kill")

            // After the restart, the database tells each story whole or not at all.
            let restarted = try start()
            defer { restarted.terminate() }
            try await waitUntilServing()
            try await town.url.withSingleConnection(logger: TestDatabase.logger) { db in
                func rows<T: PostgresDecodable & Sendable>(_ sql: PostgresQuery, _ type: T.Type) async throws -> [T] {
                    var result: [T] = []
                    for try await value in try await db.query(sql).decode(T.self) { result.append(value) }
                    return result
                }
                // Notices: every one stored was sent to all 24 households' guardians (28),
                // with a mail job per mail guardian (24), an event per app guardian (4) and its
                // own progress event.
                let notices = try await rows("""
                    SELECT n.title || '|' || n.state
                           || '|' || (SELECT count(*) FROM notice_recipients r WHERE r.notice_id = n.id)
                           || '|' || (SELECT count(*) FROM deliveries d WHERE d.message_id = n.message_id)
                           || '|' || (SELECT count(*) FROM events e WHERE e.kind = 'notice.received' AND (e.payload->>'noticeId')::bigint = n.id)
                           || '|' || (SELECT count(*) FROM events e WHERE e.stream = 'notice:' || n.id AND e.kind = 'notice.sent')
                    FROM notices n WHERE n.title LIKE '緊急連絡%'
                    """, String.self)
                for notice in notices {
                    let title = String(notice.split(separator: "|")[0])
                    #expect(notice == "\(title)|sent|28|24|4|1", "a notice half published: \(notice)")
                }
                for (kind, _, title) in answers where kind == .notice {
                    #expect(notices.contains { $0.hasPrefix(title + "|") }, "acknowledged notice \(title) is stored")
                }
                // Posts: each stored one has its live event.
                let posts = try await rows("""
                    SELECT p.body || '|' || (SELECT count(*) FROM events e
                                             WHERE e.stream = 'thread:' || p.thread_id AND e.kind = 'post.created' AND (e.payload->>'id')::bigint = p.id)
                    FROM posts p WHERE p.body LIKE '再起動テストの投稿%'
                    """, String.self)
                for post in posts { #expect(post.hasSuffix("|1"), "a post without its event: \(post)") }
                for (kind, _, body) in answers where kind == .post {
                    #expect(posts.contains(body + "|1"), "acknowledged post \(body) is stored")
                }
                // Removals: an item decided 'removed' has its post removed, its log line, the
                // author's and the reporter's notifications; one not decided has none of them.
                let removals = try await rows("""
                    SELECT i.id::text || '|' || i.state || '|' || p.moderation
                           || '|' || (SELECT count(*) FROM moderation_log l WHERE l.item_id = i.id AND l.action = 'delete')
                           || '|' || (SELECT count(*) FROM notifications n WHERE n.kind = 'moderation.removed' AND (n.payload->>'itemId')::bigint = i.id)
                           || '|' || (SELECT count(*) FROM notifications n WHERE n.kind = 'flag.outcome' AND (n.payload->>'postId')::bigint = p.id)
                    FROM moderation_items i JOIN posts p ON p.id = i.post_id
                    """, String.self)
                #expect(removals.count == 20)
                for removal in removals {
                    let id = String(removal.split(separator: "|")[0])
                    #expect(removal == "\(id)|removed|removed|1|1|1" || removal == "\(id)|pending|visible|0|0|0", "a removal half done: \(removal)")
                }
                for (kind, _, id) in answers where kind == .removal {
                    #expect(removals.contains("\(id)|removed|removed|1|1|1"), "acknowledged removal of item \(id) is done")
                }
                print("kill mid-publish: \(answers.count) of 60 answered before the kill (\(answers.map(\.0.rawValue).sorted())); stored \(notices.count) notices, \(posts.count) posts, "
                      + "\(removals.filter { $0.contains("|removed|") }.count) removals, each whole")
            }
        }
    }
}
