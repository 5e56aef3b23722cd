import Foundation
import KairanCore
import KairanStore

/// A flag as its reporter sees it: never who decided.
public struct FlagView: Codable, Sendable {
    public let postId: PostID
    public let reason: FlagReason
    public let createdAt: Date
    /// pending until moderators decide, then kept or removed.
    public let outcome: String
    /// In the reporter's list: where the post was and how it began, so a reporter can tell
    /// which post an outcome is about (never who decided).
    public var threadId: ThreadID?
    public var groupId: GroupID?
    public var excerpt: String?

    /// What a reporter is told: removed, kept, or still pending.
    static func outcome(_ state: ModerationItemState) -> String {
        switch state {
        case .removed: return "removed"
        case .kept, .ignored: return "kept"
        case .pending, .escalated: return "pending"
        }
    }
}

/// A queue item as moderators see it.
public struct ModerationItemView: Encodable, Sendable {
    public struct Flag: Encodable, Sendable {
        public let accountId: AccountID
        public let displayName: String
        public let reason: FlagReason
        public let note: String
        public let weight: Double
        public let createdAt: Date
    }
    public let id: ModerationItemID
    public let postId: PostID
    public let threadId: ThreadID
    public let groupId: GroupID
    public let groupName: String
    public let authorId: AccountID?
    /// The post's text as flagged (kept for review even when it was removed).
    public let postBody: String
    public let postModeration: PostModeration
    public let state: ModerationItemState
    public let score: Double
    public let autoHidden: Bool
    public let reasons: [String: Int]
    public let createdAt: Date
    public let updatedAt: Date
    public let decidedAt: Date?
    /// Detail view only.
    public let flags: [Flag]?
    public let history: [ModerationStore.LogEntry]?
    public let appeal: AppealRecord?

    init(_ r: ModerationItemRecord, flags: [FlagRecord]? = nil, history: [ModerationStore.LogEntry]? = nil, appeal: AppealRecord? = nil) {
        id = r.id; postId = r.postID; threadId = r.threadID; groupId = r.groupID; groupName = r.groupName; authorId = r.authorID
        postBody = r.postBody; postModeration = r.postModeration; state = r.state; score = r.score; autoHidden = r.autoHidden
        reasons = r.reasons; createdAt = r.createdAt; updatedAt = r.updatedAt; decidedAt = r.decidedAt
        self.flags = flags?.map { Flag(accountId: $0.accountID, displayName: $0.displayName, reason: $0.reason, note: $0.note, weight: $0.weight, createdAt: $0.createdAt) }
        self.history = history
        self.appeal = appeal
    }
}

/// A moderator's decision on a queue item.
public struct ModerationDecision: Sendable {
    public let action: ModerationActionKind
    public let reason: String
    /// Suspensions (required) and bans (absent: for good), in hours.
    public let durationHours: Int?
    /// Suspensions: "group" (default) or "town" (the town's moderators only).
    public let scope: String?

    public init(action: ModerationActionKind, reason: String, durationHours: Int?, scope: String?) {
        self.action = action; self.reason = reason; self.durationHours = durationHours; self.scope = scope
    }
}

/// Changes to the moderation settings; nil keeps a value.
public struct ModerationSettingsChange: Sendable {
    public var autoHideScore: Double?
    public var newAccountDays: Int?
    public var newAccountPostsPerHour: Int?
    public var newAccountMaxLinks: Int?

    public init(autoHideScore: Double? = nil, newAccountDays: Int? = nil, newAccountPostsPerHour: Int? = nil, newAccountMaxLinks: Int? = nil) {
        self.autoHideScore = autoHideScore; self.newAccountDays = newAccountDays
        self.newAccountPostsPerHour = newAccountPostsPerHour; self.newAccountMaxLinks = newAccountMaxLinks
    }
}
