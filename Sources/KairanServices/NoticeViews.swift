import Foundation
import KairanCore
import KairanStore

/// A notice as its organization's staff see it.
public struct NoticeView: Codable, Sendable {
    public let id: NoticeID
    public let organizationId: OrganizationID
    public let authorId: AccountID
    public let urgent: Bool
    public let title: String
    public let body: String
    public let targets: NoticeTargets
    public let form: ReplyForm?
    public let state: NoticeState
    public let sendAt: Date
    /// When it goes (went) out: after quiet hours for a normal notice.
    public let releaseAt: Date
    public let skipReason: String?
    public let createdAt: Date
    public let sentAt: Date?
    public let escalateAt: Date?
    public let escalatedAt: Date?
    /// Raised by every edit; pass it to `approve` to approve exactly what was read.
    public let revision: Int
    /// The approval trail (detail view only).
    public let approvalLog: [ApprovalEntryView]?
    /// On creation: channels among the targets that reach no guardian today (the rest do).
    public var emptyTargets: [Channel]?
    /// The notice's photos and PDFs (in one notice's own view; lists leave them out).
    public var attachments: [AttachmentRecord]?

    public struct Channel: Codable, Sendable, Equatable {
        /// "all", "grade", "class" or "list".
        public let kind: String
        public let id: Int64
    }

    public init(_ record: NoticeRecord, log: [NoticeStore.ApprovalEntry]? = nil) {
        id = record.id; organizationId = record.organizationID; authorId = record.authorID; urgent = record.urgent
        title = record.title; body = record.body; targets = record.targets; form = record.form; state = record.state
        sendAt = record.sendAt; releaseAt = record.releaseAt; skipReason = record.skipReason; createdAt = record.createdAt
        sentAt = record.sentAt; escalateAt = record.escalateAt; escalatedAt = record.escalatedAt; revision = record.revision
        approvalLog = log?.map(ApprovalEntryView.init)
    }
}

public struct ApprovalEntryView: Codable, Sendable {
    public let actorId: AccountID
    public let actorName: String
    public let action: ApprovalAction
    public let comment: String?
    public let at: Date
    init(_ entry: NoticeStore.ApprovalEntry) {
        actorId = entry.actorID; actorName = entry.actorName; action = entry.action; comment = entry.comment; at = entry.at
    }
}

/// A custom list of children (a club, a bus route) that notices can be sent to.
public struct NoticeListView: Codable, Sendable {
    public let id: NoticeListID
    public let name: String
    public let childIds: [ChildID]
    init(_ record: NoticeListRecord) { id = record.id; name = record.name; childIds = record.children }
}

/// A household that has not confirmed a notice.
public struct HouseholdView: Codable, Sendable {
    public struct Guardian: Codable, Sendable {
        public let id: GuardianID
        public let name: String
        public let phone: String?
    }
    public let householdId: Int64
    public let children: [String]
    /// Each child's class, in the order of `children`; empty for a child in no class.
    public let classes: [String]
    public let guardians: [Guardian]
}

/// Delivered / opened / confirmed counts, and who has not confirmed.
public struct NoticeStatusView: Codable, Sendable {
    public let noticeId: NoticeID
    public let state: NoticeState
    public let counts: NoticeStatusCounts
    /// Households not yet confirmed (names only; phones are on the call list).
    public let unconfirmed: [HouseholdView]
    public let escalatedAt: Date?
}

/// The answers to a notice's reply form, tallied.
public struct NoticeAnswersView: Codable, Sendable {
    public struct Tally: Codable, Sendable {
        public let option: String
        public let count: Int
    }
    public struct Answer: Codable, Sendable {
        public let childId: ChildID
        public let childName: String
        public let className: String?
        public let choices: [Int]
        public let text: String?
        public let answeredBy: String?
        public let answeredAt: Date?
    }
    public let form: ReplyForm
    public let tallies: [Tally]
    public let answered: Int
    public let unanswered: Int
    public let answers: [Answer]
}

/// A notice as staff write it.
public struct NoticeDraft: Sendable {
    public var title: String
    public var body: String
    public var urgent: Bool
    public var targets: NoticeTargets
    public var form: ReplyForm?
    /// nil: now.
    public var sendAt: Date?
    /// An urgent notice sent without waiting for approval, by staff allowed to; the reason
    /// is recorded in the approval trail.
    public var skipApprovalReason: String?
    /// The same key from the same author again: the notice the first one made, not another.
    public var idempotencyKey: String?
    /// The author's uploads, shown with the notice (mail carries a link to them, never the files).
    public var attachmentIds: [AttachmentID]

    public init(title: String, body: String, urgent: Bool, targets: NoticeTargets, form: ReplyForm?, sendAt: Date?, skipApprovalReason: String?,
                idempotencyKey: String? = nil, attachmentIds: [AttachmentID] = []) {
        self.title = title; self.body = body; self.urgent = urgent; self.targets = targets; self.form = form
        self.sendAt = sendAt; self.skipApprovalReason = skipApprovalReason; self.idempotencyKey = idempotencyKey
        self.attachmentIds = attachmentIds
    }
}
