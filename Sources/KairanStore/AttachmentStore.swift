import Foundation
import KairanCore
import PostgresNIO


/// A file attached (or waiting to be attached) to a post, a notice or a town alert.
public struct AttachmentRecord: Sendable, Equatable, Codable {
    public let id: AttachmentID
    public let contentType: String
    public let byteSize: Int
    public let filename: String
    public let width: Int?
    public let height: Int?

    public var kind: AttachmentKind? { AttachmentKind(rawValue: contentType) }
}

/// An attachment with what it hangs on, for deciding who may download it.
public struct AttachmentPlacement: Sendable, Equatable {
    public let attachment: AttachmentRecord
    public let sha256: String
    public let uploaderID: AccountID?
    public let postID: PostID?
    public let noticeID: NoticeID?
    /// The notice's organization (when it hangs on a notice).
    public let organizationID: OrganizationID?
    public let alertID: Int64?
}

/// Attachments and the stored files under them.
public enum AttachmentStore {
    /// The post's (or notice's) attachments as a JSON array for a column of its own query
    /// ('' when it has none, which most posts do: no JSON to decode then).
    static func jsonColumn(owner: String, id: String) -> String {
        """
        coalesce((SELECT json_agg(json_build_object('id', x.id, 'contentType', x.content_type, 'byteSize', x.byte_size, \
        'filename', x.filename, 'width', x.width, 'height', x.height) ORDER BY x.position)::text \
        FROM attachments x WHERE x.\(owner) = \(id)), '')
        """
    }

    static func decodeColumn(_ text: String) -> [AttachmentRecord] {
        guard !text.isEmpty else { return [] }
        return (try? JSONDecoder().decode([AttachmentRecord].self, from: Data(text.utf8))) ?? []
    }

    /// Records that the store holds (or is about to hold) these bytes; committed before
    /// they are written, so the collector knows of them whatever happens next.
    public static func touchFile(sha256: String, byteSize: Int, contentType: String, now: Date, on db: DatabaseConnection) async throws {
        try await db.query("""
            INSERT INTO stored_files (sha256, byte_size, content_type, created_at, touched_at)
            VALUES (\(sha256), \(byteSize), \(contentType), \(now), \(now))
            ON CONFLICT (sha256) DO UPDATE SET touched_at = greatest(stored_files.touched_at, excluded.touched_at), purge_soon = false
            """)
    }

    public static func insert(
        uploader: AccountID, sha256: String, kind: AttachmentKind, byteSize: Int, filename: String, width: Int?, height: Int?, now: Date,
        on db: DatabaseConnection
    ) async throws -> AttachmentRecord {
        let rows = try await db.query("""
            INSERT INTO attachments (uploader_id, sha256, content_type, byte_size, filename, width, height, created_at)
            VALUES (\(uploader), \(sha256), \(kind.rawValue), \(byteSize), \(filename), \(width), \(height), \(now))
            RETURNING id
            """)
        for try await id in rows.decode(AttachmentID.self) {
            return AttachmentRecord(id: id, contentType: kind.rawValue, byteSize: byteSize, filename: filename, width: width, height: height)
        }
        throw ConnectionLost()
    }

    /// Serialises one uploader's uploads until the transaction ends (their allowance is
    /// counted, then added to).
    public static func lockUploads(of uploader: AccountID, on db: DatabaseConnection) async throws {
        try await db.query("SELECT pg_advisory_xact_lock(74201, hashint8(\(uploader)))")
    }

    /// A post its author deleted lets go of its files (the bytes go a day later, when no
    /// other post uses them): a parent who deletes a photo of their child wants it gone.
    public static func removeFromPost(_ post: PostID, on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM attachments WHERE post_id = \(post)")
        try await db.query("UPDATE posts SET has_attachments = false WHERE id = \(post) AND has_attachments")
    }

    /// Removes the uploader's waiting upload. False when there is no such upload (someone
    /// else's, unknown, or already attached: that is the post's or notice's now).
    public static func removeWaiting(_ id: AttachmentID, uploader: AccountID, on db: DatabaseConnection) async throws -> Bool {
        for try await _ in try await db.query("""
            DELETE FROM attachments WHERE id = \(id) AND uploader_id = \(uploader) AND attached_at IS NULL RETURNING id
            """).decode(AttachmentID.self) {
            return true
        }
        return false
    }

    /// The uploader's files waiting to be attached, and the bytes they uploaded since `since`.
    public static func allowanceUsed(uploader: AccountID, since: Date, on db: DatabaseConnection) async throws -> (waiting: Int, bytes: Int64) {
        let rows = try await db.query("""
            SELECT count(*) FILTER (WHERE attached_at IS NULL), coalesce(sum(byte_size) FILTER (WHERE created_at >= \(since)), 0)::bigint
            FROM attachments WHERE uploader_id = \(uploader) AND (attached_at IS NULL OR created_at >= \(since))
            """)
        for try await (waiting, bytes) in rows.decode((Int, Int64).self) { return (waiting, bytes) }
        return (0, 0)
    }

    public enum Owner: Sendable {
        case post(PostID)
        case notice(NoticeID)
        case alert(Int64)
    }

    /// Attaches the uploader's waiting files, in the order given. Returns those attached, in
    /// that order: one that is someone else's, already attached or unknown is left out, and
    /// the caller refuses the whole change.
    public static func attach(_ ids: [AttachmentID], to owner: Owner, uploader: AccountID, now: Date, on db: DatabaseConnection) async throws -> [AttachmentRecord] {
        guard !ids.isEmpty else { return [] }
        var (postID, noticeID, alertID): (PostID?, NoticeID?, Int64?) = (nil, nil, nil)
        switch owner {
        case .post(let id): postID = id
        case .notice(let id): noticeID = id
        case .alert(let id): alertID = id
        }
        let rows = try await db.query("""
            UPDATE attachments a SET post_id = \(postID), notice_id = \(noticeID), alert_id = \(alertID), position = o.n - 1, attached_at = \(now)
            FROM unnest(\(ids)::bigint[]) WITH ORDINALITY AS o(id, n)
            WHERE a.id = o.id AND a.uploader_id = \(uploader) AND a.attached_at IS NULL
            RETURNING o.n, a.id, a.content_type, a.byte_size, a.filename, a.width, a.height
            """)
        var attached: [(Int64, AttachmentRecord)] = []
        for try await row in rows.decode((Int64, AttachmentID, String, Int, String, Int?, Int?).self) {
            attached.append((row.0, AttachmentRecord(id: row.1, contentType: row.2, byteSize: row.3, filename: row.4, width: row.5, height: row.6)))
        }
        if let postID, !attached.isEmpty {
            // The thread page reads a post's files only when this says it has some.
            try await db.query("UPDATE posts SET has_attachments = true WHERE id = \(postID)")
        }
        return attached.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The names of the uploader's waiting files among `ids` (the post gate reads them with
    /// the text: a name is something a resident wrote too).
    public static func waitingNames(_ ids: [AttachmentID], uploader: AccountID, on db: DatabaseConnection) async throws -> [String] {
        guard !ids.isEmpty else { return [] }
        var names: [String] = []
        for try await name in try await db.query("""
            SELECT filename FROM attachments WHERE id = ANY(\(ids)::bigint[]) AND uploader_id = \(uploader) AND attached_at IS NULL
            """).decode(String.self) {
            names.append(name)
        }
        return names
    }

    public static func find(_ id: AttachmentID, on db: DatabaseConnection) async throws -> AttachmentPlacement? {
        let rows = try await db.query("""
            SELECT a.id, a.content_type, a.byte_size, a.filename, a.width, a.height, a.sha256, a.uploader_id, a.post_id, a.notice_id,
                   n.organization_id, a.alert_id
            FROM attachments a LEFT JOIN notices n ON n.id = a.notice_id WHERE a.id = \(id)
            """)
        for try await row in rows.decode((AttachmentID, String, Int, String, Int?, Int?, String, AccountID?, PostID?, NoticeID?, OrganizationID?, Int64?).self) {
            return AttachmentPlacement(
                attachment: AttachmentRecord(id: row.0, contentType: row.1, byteSize: row.2, filename: row.3, width: row.4, height: row.5),
                sha256: row.6, uploaderID: row.7, postID: row.8, noticeID: row.9, organizationID: row.10, alertID: row.11)
        }
        return nil
    }

    public static func forNotice(_ id: NoticeID, on db: DatabaseConnection) async throws -> [AttachmentRecord] {
        try await records(try await db.query("""
            SELECT id, content_type, byte_size, filename, width, height FROM attachments WHERE notice_id = \(id) ORDER BY position
            """))
    }

    public static func forAlert(_ id: Int64, on db: DatabaseConnection) async throws -> [AttachmentRecord] {
        try await records(try await db.query("""
            SELECT id, content_type, byte_size, filename, width, height FROM attachments WHERE alert_id = \(id) ORDER BY position
            """))
    }

    /// The alert whose file link carries this token, and when it is sent: its files are
    /// nobody's before then, and never when it was cancelled before it went out (a wrong
    /// file attached is taken back by cancelling).
    public static func alert(publicToken token: String, on db: DatabaseConnection) async throws -> (id: Int64, sendAt: Date)? {
        for try await row in try await db.query("""
            SELECT id, send_at FROM alerts WHERE public_token = \(token) AND NOT coalesce(cancelled_at <= send_at, false)
            """).decode((Int64, Date).self) {
            return row
        }
        return nil
    }

    private static func records(_ rows: PostgresRowSequence) async throws -> [AttachmentRecord] {
        var found: [AttachmentRecord] = []
        for try await row in rows.decode((AttachmentID, String, Int, String, Int?, Int?).self) {
            found.append(AttachmentRecord(id: row.0, contentType: row.1, byteSize: row.2, filename: row.3, width: row.4, height: row.5))
        }
        return found
    }

    /// Forgets uploads never attached since `before` (the form was abandoned).
    public static func removeWaiting(createdBefore before: Date, on db: DatabaseConnection) async throws -> Int {
        let rows = try await db.query("""
            WITH gone AS (DELETE FROM attachments WHERE attached_at IS NULL AND created_at < \(before) RETURNING 1) SELECT count(*) FROM gone
            """)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Stored files no attachment uses and nobody uploaded since `before`, locked for the
    /// collector's transaction (another instance's collector passes over them).
    /// `among`: only these (nil: any). `withdrawnBefore`: also those marked withdrawn
    /// (`purge_soon`) that nobody uploaded since then.
    public static func claimUnused(touchedBefore before: Date, withdrawnBefore: Date? = nil, among keys: [String]? = nil, limit: Int,
                                   on db: DatabaseConnection) async throws -> [String] {
        let rows = try await db.query("""
            SELECT f.sha256 FROM stored_files f
            WHERE (f.touched_at < \(before) OR f.purge_soon AND f.touched_at < \(withdrawnBefore))
              AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = f.sha256)
              AND (\(keys)::text[] IS NULL OR f.sha256 = ANY(\(keys)::text[]))
            ORDER BY f.touched_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            """)
        var keys: [String] = []
        for try await key in rows.decode(String.self) { keys.append(key) }
        return keys
    }

    /// Whether the account is staff of any organization (larger files, more per notice).
    public static func isOrganizationStaff(_ account: AccountID, on db: DatabaseConnection) async throws -> Bool {
        for try await found in try await db.query("SELECT EXISTS (SELECT 1 FROM organization_staff WHERE account_id = \(account))").decode(Bool.self) {
            return found
        }
        return false
    }

    public static func forget(files keys: [String], on db: DatabaseConnection) async throws {
        try await db.query("DELETE FROM stored_files WHERE sha256 = ANY(\(keys)::text[])")
    }
}
