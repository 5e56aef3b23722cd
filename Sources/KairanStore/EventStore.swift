import Foundation
import KairanCore
import Logging
import PostgresNIO

/// The append-only event log behind live delivery. Writers append in the same transaction
/// as the change they describe; `NOTIFY` wakes listeners on commit, carrying only the
/// stream name; listeners read the rows themselves.
public enum EventStore {
    /// The LISTEN/NOTIFY channel every instance listens on.
    public static let channel = "kairan_events"

    public struct StoredEvent: Sendable, Equatable {
        public let stream: String
        public let offset: Int64
        public let kind: String
        /// The event's JSON object, as text.
        public let payload: String
        public let createdAt: Date
    }

    public static func groupStream(_ id: GroupID) -> String { "group:\(id)" }
    public static func threadStream(_ id: ThreadID) -> String { "thread:\(id)" }
    public static func userStream(_ id: AccountID) -> String { "user:\(id)" }
    public static func organizationStream(_ id: OrganizationID) -> String { "org:\(id)" }
    public static func classStream(_ id: ClassID) -> String { "class:\(id)" }
    public static func noticeStream(_ id: NoticeID) -> String { "notice:\(id)" }
    /// An alert's progress, for the town staff following it.
    public static func alertStream(_ id: Int64) -> String { "alert:\(id)" }

    static func json(_ payload: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(payload), as: UTF8.self)
    }

    /// Appends the same event to many streams in one statement, whatever their number (a
    /// notice reaching every connected guardian's own stream), NOTIFYs included.
    public static func appendToEach(
        _ streams: [String], kind: String, payload: some Encodable, now: Date, on db: DatabaseConnection
    ) async throws {
        guard !streams.isEmpty else { return }
        let json = try json(payload)
        // Sorted, so concurrent writers lock the head rows in one order and cannot deadlock.
        let sorted = Array(Set(streams)).sorted()
        try await db.query("""
            WITH heads AS (
                INSERT INTO stream_heads (stream, last_offset)
                SELECT s, 1 FROM unnest(\(sorted)::text[]) AS s ORDER BY s
                ON CONFLICT (stream) DO UPDATE SET last_offset = stream_heads.last_offset + 1
                RETURNING stream, last_offset
            ), appended AS (
                INSERT INTO events (stream, seq, kind, payload, created_at)
                SELECT stream, last_offset, \(kind), \(json)::jsonb, \(now) FROM heads
                RETURNING stream
            )
            SELECT pg_notify(\(channel), stream) FROM appended
            """)
    }

    /// Appends one event and schedules the wake-up. Returns the event's offset.
    @discardableResult
    public static func append(
        _ stream: String, kind: String, payload: some Encodable, now: Date, on db: DatabaseConnection
    ) async throws -> Int64 {
        let json = try json(payload)
        var offset: Int64 = 0
        // The upsert takes the head row's lock until commit: appends to one stream are
        // serialised, so offsets are gap-free and commit in order. One statement, so the lock
        // is held for one round trip less per event before the commit.
        for try await value in try await db.query("""
            WITH head AS (
                INSERT INTO stream_heads (stream, last_offset) VALUES (\(stream), 1)
                ON CONFLICT (stream) DO UPDATE SET last_offset = stream_heads.last_offset + 1
                RETURNING last_offset
            ), appended AS (
                INSERT INTO events (stream, seq, kind, payload, created_at)
                SELECT \(stream), last_offset, \(kind), \(json)::jsonb, \(now) FROM head
                RETURNING seq
            )
            SELECT seq FROM appended, pg_notify(\(channel), \(stream))
            """).decode(Int64.self) {
            offset = value
        }
        return offset
    }

    /// Events of `stream` after `offset` (and up to `through`, when given), oldest first.
    public static func read(
        _ stream: String, after offset: Int64, through last: Int64? = nil, limit: Int, on db: DatabaseConnection
    ) async throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        for try await (seq, kind, payload, createdAt) in try await db.query("""
            SELECT seq, kind, payload::text, created_at FROM events
            WHERE stream = \(stream) AND seq > \(offset) AND (\(last)::bigint IS NULL OR seq <= \(last))
            ORDER BY seq LIMIT \(limit)
            """).decode((Int64, String, String, Date).self) {
            events.append(StoredEvent(stream: stream, offset: seq, kind: kind, payload: payload, createdAt: createdAt))
        }
        return events
    }

    /// New events of several streams in one query: for each (stream, offset), up to
    /// `limitEach` events after the offset, oldest first per stream.
    public static func read(
        _ cursors: [(stream: String, after: Int64)], limitEach: Int, on db: DatabaseConnection
    ) async throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        let names = cursors.map(\.stream), offsets = cursors.map(\.after)
        for try await (stream, seq, kind, payload, createdAt) in try await db.query("""
            SELECT c.stream, e.seq, e.kind, e.payload::text, e.created_at
            FROM unnest(\(names)::text[], \(offsets)::bigint[]) AS c(stream, after)
            CROSS JOIN LATERAL (
                SELECT seq, kind, payload, created_at FROM events
                WHERE stream = c.stream AND seq > c.after ORDER BY seq LIMIT \(limitEach)
            ) e
            ORDER BY c.stream, e.seq
            """).decode((String, Int64, String, String, Date).self) {
            events.append(StoredEvent(stream: stream, offset: seq, kind: kind, payload: payload, createdAt: createdAt))
        }
        return events
    }

    /// What a stream hub reads before it dispatches a stream's new events: those events,
    /// and, from the same snapshot, the membership changes of the streams its subscriptions
    /// depend on (`watches`, each after its own offset, only `kinds`) with those streams'
    /// heads. One statement, so a post that committed after a removal is never read without
    /// the removal.
    public struct ReadWithMembership: Sendable {
        public var events: [StoredEvent] = []
        public var membership: [StoredEvent] = []
        public var heads: [String: Int64] = [:]

        public init(events: [StoredEvent] = []) {
            self.events = events
        }
    }

    public static func read(
        _ stream: String, after offset: Int64, through last: Int64? = nil, limit: Int,
        membershipOf watches: [(stream: String, after: Int64)], kinds: [String], limitEach: Int,
        on db: DatabaseConnection
    ) async throws -> ReadWithMembership {
        var result = ReadWithMembership()
        let names = watches.map(\.stream), offsets = watches.map(\.after)
        for try await (part, name, seq, kind, payload, createdAt) in try await db.query("""
            (SELECT 0, stream, seq, kind, payload::text, created_at FROM events
             WHERE stream = \(stream) AND seq > \(offset) AND (\(last)::bigint IS NULL OR seq <= \(last)) ORDER BY seq LIMIT \(limit))
            UNION ALL
            (SELECT 1, c.stream, e.seq, e.kind, e.payload::text, e.created_at
             FROM unnest(\(names)::text[], \(offsets)::bigint[]) AS c(stream, after)
             CROSS JOIN LATERAL (
                 SELECT seq, kind, payload, created_at FROM events
                 WHERE stream = c.stream AND seq > c.after AND kind = ANY(\(kinds)::text[]) ORDER BY seq LIMIT \(limitEach)
             ) e)
            UNION ALL
            (SELECT 2, stream, last_offset, '', '', now() FROM stream_heads WHERE stream = ANY(\(names)::text[]))
            """).decode((Int, String, Int64, String, String, Date).self) {
            switch part {
            case 0: result.events.append(StoredEvent(stream: name, offset: seq, kind: kind, payload: payload, createdAt: createdAt))
            case 1: result.membership.append(StoredEvent(stream: name, offset: seq, kind: kind, payload: payload, createdAt: createdAt))
            default: result.heads[name] = seq
            }
        }
        // UNION ALL keeps no order across its parts; within a part, each stream's rows are
        // wanted oldest first.
        result.events.sort { $0.offset < $1.offset }
        result.membership.sort { ($0.stream, $0.offset) < ($1.stream, $1.offset) }
        return result
    }

    /// Retention: deletes events created before `cutoff`, at most `limit` per call. Stream
    /// heads stay, so offsets keep growing and a client asking for deleted events is told
    /// there is a gap.
    public static func deleteOlder(than cutoff: Date, limit: Int, on db: DatabaseConnection) async throws -> Int {
        var count = 0
        for try await _ in try await db.query("""
            DELETE FROM events WHERE ctid IN (SELECT ctid FROM events WHERE created_at < \(cutoff) LIMIT \(limit))
            RETURNING seq
            """).decode(Int64.self) {
            count += 1
        }
        return count
    }

    /// The newest offset of a stream (0 when it has none).
    public static func head(_ stream: String, on db: DatabaseConnection) async throws -> Int64 {
        for try await value in try await db.query("SELECT last_offset FROM stream_heads WHERE stream = \(stream)").decode(Int64.self) {
            return value
        }
        return 0
    }

    /// The heads of two streams in one round trip (0 for a stream with no events yet).
    public static func heads(_ first: String, _ second: String, on db: DatabaseConnection) async throws -> (Int64, Int64) {
        var heads: [String: Int64] = [:]
        for try await (stream, offset) in try await db.query(
            "SELECT stream, last_offset FROM stream_heads WHERE stream = \(first) OR stream = \(second)"
        ).decode((String, Int64).self) {
            heads[stream] = offset
        }
        return (heads[first] ?? 0, heads[second] ?? 0)
    }
}
