import Foundation
import HummingbirdTesting
import KairanCore
import PostgresNIO
import Testing

@testable import KairanServer
@testable import KairanStore

/// Most replies are written in one statement that commits on its own
/// (`ThreadStore.insertAndPublishReply`, the event encoded before the post had its id);
/// one that mentions someone, carries files or waits for moderation in a transaction.
@Suite struct PlainReplyTests {
    /// One JSON text per value: keys sorted.
    func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]), as: UTF8.self)
    }

    /// A reply's `post.created` event says what the reply's answer says, whichever way it
    /// was written.
    @Test func aReplysEventOnItsThreadAndGroupIsThePostAsAnswered() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp", name: "山田 花子")
            let member = try await client.resident("member@example.jp", name: "佐藤 次郎")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: member.token).status == .ok)
            let (thread, first) = try await client.createThread(in: group, by: owner)

            var answers: [[String: Any]] = []
            for (body, replyTo) in [("一つの文で書く返信", first), ("@山田花子 さん、名前を呼ぶ返信", first), ("返信先のない返信", 0)] {
                var fields: [String: Any] = ["body": body]
                if replyTo != 0 { fields["replyTo"] = replyTo }
                let reply = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(fields), token: member.token)
                try #require(reply.status == .created, "\(reply.text)")
                answers.append(try reply.json())
            }
            #expect(answers[0]["replyTo"] as? Int == first && answers[2]["replyTo"] is NSNull)

            // The events as stored, the newest three on each stream.
            let events = try await url.withSingleConnection(logger: TestDatabase.logger) { db -> [String: [String]] in
                var payloads: [String: [String]] = [:]
                for stream in ["thread:\(thread)", "group:\(group)"] {
                    for try await payload in try await db.query("""
                        SELECT payload::text FROM events WHERE stream = \(stream) AND kind = 'post.created' ORDER BY seq DESC LIMIT 3
                        """).decode(String.self) {
                        payloads[stream, default: []].insert(payload, at: 0)
                    }
                }
                return payloads
            }
            for (stream, payloads) in events {
                try #require(payloads.count == 3, "\(stream): \(payloads)")
                for (payload, answer) in zip(payloads, answers) {
                    let event = try JSONSerialization.jsonObject(with: Data(payload.utf8))
                    #expect(try canonical(event) == canonical(answer), "\(stream)")
                }
            }
            let author = try #require(answers[0]["author"] as? [String: Any])
            #expect(author["displayName"] as? String == "佐藤 次郎" && author["id"] as? Int == member.id)
        }
    }

    /// Whether a plain reply's statement is waiting for a lock (within 10 s).
    func aReplyWaitsForALock(_ url: DatabaseURL) async throws -> Bool {
        try await url.withSingleConnection(logger: TestDatabase.logger) { db in
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                for try await waiting in try await db.query("""
                    SELECT count(*)::int FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH counted AS%'
                    """).decode(Int.self) where waiting > 0 {
                    return true
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }
    }

    /// A plain reply commits on its own, in one statement. Held up in it (here by a lock on
    /// its thread's stream head) past the request's deadline, the resident is answered 503
    /// and the reply is not kept: the connection is closed and PostgreSQL aborts the
    /// statement rather than commit it once the lock goes.
    @Test(.timeLimit(.minutes(2)))
    func aPlainReplyAnswered503AtItsDeadlineIsNotStored() async throws {
        try await TestDatabase.withFreshDatabase { url in
            try await serveLive(url: url, configure: { $0.requestTimeout = .seconds(3) }) { client in
                let owner = try await client.resident("owner@example.jp")
                let group = try await client.createGroup(by: owner)
                let (thread, _) = try await client.createThread(in: group, by: owner)
                let blocker = try await PostgresConnection.connect(configuration: url.connectionConfiguration(), id: 9, logger: TestDatabase.logger)
                try await blocker.query("BEGIN", logger: TestDatabase.logger)
                // Rows read to the end: a statement's error (or its lock) comes with its rows.
                for try await _ in try await blocker.query("SELECT 1 FROM stream_heads WHERE stream = \("thread:\(thread)") FOR UPDATE",
                                                           logger: TestDatabase.logger) {}
                async let late = client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "待たされた返信"]), token: owner.token)
                #expect(try await aReplyWaitsForALock(url), "the reply's statement was sent and waits for the head")
                #expect(try await late.status == .serviceUnavailable)
                // Well past the server's check (every second) for a connection nobody reads.
                try await Task.sleep(for: .seconds(3))
                try await blocker.query("ROLLBACK", logger: TestDatabase.logger)
                try await blocker.close()
                let after = try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "次の返信"]), token: owner.token)
                #expect(after.status == .created, "\(after.text)")
                let page = try await client.send(.get, "/v1/threads/\(thread)/posts", token: owner.token)
                let bodies = try page.items().compactMap { $0["body"] as? String }
                #expect(bodies.contains("次の返信"))
                #expect(!bodies.contains("待たされた返信"), "the reply answered 503 was not kept: \(bodies)")
            }
        }
    }

    /// A membership change locks its group's row, then appends to the group's stream. A plain
    /// reply waiting for that row must not hold the group stream's head meanwhile (its
    /// foreign keys' locks would come after the heads if left to the end of its statement):
    /// the change takes the head at once, and the reply goes through after it.
    @Test(.timeLimit(.minutes(2)))
    func aPlainReplyWaitingForItsGroupHoldsNoStreamHead() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            // The group's stream has a head by now (a first reply's event at the latest).
            #expect(try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "最初の返信"]), token: owner.token).status == .created)
            let change = try await PostgresConnection.connect(configuration: url.connectionConfiguration(), id: 9, logger: TestDatabase.logger)
            try await change.query("BEGIN", logger: TestDatabase.logger)
            // Rows read to the end: a statement's error (or its lock) comes with its rows.
            for try await _ in try await change.query("SELECT 1 FROM groups WHERE id = \(group) FOR UPDATE", logger: TestDatabase.logger) {}
            async let reply = client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": "入会手続き中の返信"]), token: owner.token)
            #expect(try await aReplyWaitsForALock(url))
            // Shorter than PostgreSQL's deadlock_timeout (1 s), which would otherwise end the
            // cycle by aborting the reply (and the retry would hide it).
            try await change.query("SET LOCAL lock_timeout = '500ms'", logger: TestDatabase.logger)
            do {
                for try await _ in try await change.query("SELECT 1 FROM stream_heads WHERE stream = \("group:\(group)") FOR UPDATE",
                                                          logger: TestDatabase.logger) {}
            } catch {
                Issue.record("the membership change waited for the group stream's head, held by the reply: \(String(reflecting: error))")
            }
            _ = try? await change.query("ROLLBACK", logger: TestDatabase.logger)
            try await change.close()
            let answered = try await reply
            #expect(answered.status == .created, "\(answered.text)")
        }
    }

    /// A locked thread takes replies from its group's moderators only: a member's reply is
    /// refused with 409 `thread_locked` and not written, whether it would have been written in
    /// one statement or (mentioning someone) in a transaction; the group's owner still replies,
    /// and once the thread is unlocked the member can again.
    @Test func aLockedThreadTakesRepliesFromModeratorsOnly() async throws {
        try await withApp { client, _ in
            let owner = try await client.resident("owner@example.jp", name: "山田 花子")
            let member = try await client.resident("member@example.jp")
            let group = try await client.createGroup(by: owner)
            #expect(try await client.send(.post, "/v1/groups/\(group)/join", json: "{}", token: member.token).status == .ok)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            func reply(_ body: String, by who: Resident) async throws -> TestResponse {
                try await client.send(.post, "/v1/threads/\(thread)/posts", json: jsonObject(["body": body]), token: who.token)
            }
            let locked = try await client.send(.patch, "/v1/threads/\(thread)", json: jsonObject(["locked": true]), token: owner.token)
            #expect(locked.status == .ok, "\(locked.text)")
            for body in ["鍵のかかったスレッドへの返信", "@山田花子 さん、鍵のかかったスレッドへの返信"] {
                let refused = try await reply(body, by: member)
                #expect(refused.status == .conflict, "\(body): \(refused.text)")
                #expect(try refused.errorCode() == "thread_locked", "\(body)")
            }
            #expect(try await reply("管理者からのお知らせ", by: owner).status == .created)
            let bodies = try await client.send(.get, "/v1/threads/\(thread)/posts", token: member.token).items().compactMap { $0["body"] as? String }
            #expect(!bodies.contains { $0.contains("鍵のかかったスレッドへの返信") }, "\(bodies)")
            #expect(try await client.send(.patch, "/v1/threads/\(thread)", json: jsonObject(["locked": false]), token: owner.token).status == .ok)
            #expect(try await reply("鍵が外れたあとの返信", by: member).status == .created)
        }
    }

    /// A plain reply reads the thread with the caller's standing and the post gate's reading
    /// in one statement. On a database without statistics (a new town server's first minute,
    /// and every test database) the planner guesses 1,480 rows for the one-row settings
    /// table; with the standing inlined, its subqueries were costed once per guessed row, the
    /// estimate passed `jit_above_cost`, and every reply spent 280 ms compiling the statement.
    /// Its estimate must stay under that threshold, for the first executions' custom plans
    /// and for the generic plan a pooled connection keeps. Fails with the CTE inlined
    /// (108,003 against 100,000; 24,384 materialized).
    @Test func theReplysReadingStaysBelowTheJITThresholdWithoutStatistics() async throws {
        try await withApp { client, url in
            let owner = try await client.resident("owner@example.jp")
            let group = try await client.createGroup(by: owner)
            let (thread, _) = try await client.createThread(in: group, by: owner)
            let (costs, threshold) = try await url.withSingleConnection(logger: TestDatabase.logger) { db -> ([Double], Double) in
                // A thread that has been busy for a minute, before autovacuum's first look.
                try await db.query("""
                    INSERT INTO posts (thread_id, group_id, author_id, body, created_at)
                    SELECT id, group_id, created_by, 'もう一件 ' || n, now() FROM threads, generate_series(1, 2000) n WHERE id = \(thread)
                    """)
                var threshold = 0.0
                for try await value in try await db.query("SELECT current_setting('jit_above_cost')::float8").decode(Double.self) {
                    threshold = value
                }
                try await db.query(PostgresQuery(unsafeSQL: "PREPARE reading AS " + ThreadStore.ThreadStandingAndGateStatement.sql))
                var costs: [Double] = []
                for mode in ["force_custom_plan", "force_generic_plan"] {
                    try await db.query(PostgresQuery(unsafeSQL: "SET plan_cache_mode = \(mode)"))
                    var plan = ""
                    let explain = "EXPLAIN (FORMAT JSON) EXECUTE reading(\(owner.id), \(owner.id), now(), \(owner.id), \(thread), \(owner.id), now(), 'こんにちは', 'こんにちは')"
                    for try await text in try await db.query(PostgresQuery(unsafeSQL: explain)).decode(String.self) { plan += text }
                    let json = try #require(try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]])
                    costs.append(try #require((json.first?["Plan"] as? [String: Any])?["Total Cost"] as? Double, "\(plan)"))
                }
                return (costs, threshold)
            }
            #expect(threshold > 0)
            #expect(costs.count == 2 && costs.allSatisfy { $0 < threshold }, "estimated \(costs) against jit_above_cost \(threshold)")
        }
    }
}

/// `KAIRAN_DATABASE_URL`'s parameters.
@Suite struct DatabaseURLTests {
    @Test func theConnectionCheckIsOnByDefaultAndCanBeTurnedOff() throws {
        let plain = try DatabaseURL(string: "postgres://kairan@db.example.jp/kairan")
        #expect(plain.connectionCheckInterval == 1000)
        #expect(try plain.clientConfiguration().options.additionalStartupParameters.map(\.0) == ["client_connection_check_interval"])
        let off = try DatabaseURL(string: "postgres://kairan@db.example.jp/kairan?client_connection_check_interval=0")
        #expect(off.connectionCheckInterval == 0)
        #expect(try off.clientConfiguration().options.additionalStartupParameters.isEmpty)
        #expect(try DatabaseURL(string: off.urlString) == off, "kept for child processes")
        #expect(throws: DatabaseURL.ParseError.self) {
            try DatabaseURL(string: "postgres://kairan@db.example.jp/kairan?client_connection_check_interval=soon")
        }
    }
}
