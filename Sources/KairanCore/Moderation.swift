import Foundation

/// Moderation: flags, the review queue, actions, appeals.
public typealias ModerationItemID = Int64
public typealias AppealID = Int64

public enum FlagReason: String, Codable, CaseIterable, Sendable {
    case spam
    case harassment
    /// 個人情報: someone's personal information exposed.
    case personalInfo = "personal_info"
    case inappropriate
    /// Needs a note saying what is wrong.
    case other
}

public enum ModerationItemState: String, Codable, CaseIterable, Sendable {
    case pending, kept, removed, ignored, escalated
}

/// What moderators do with a queue item (every action takes a reason).
public enum ModerationActionKind: String, Codable, CaseIterable, Sendable {
    /// The post stays (restored if it was hidden).
    case keep
    /// Only its author and moderators see it; an appeal can restore it.
    case hide
    /// Its text is gone from the group.
    case delete
    /// A message only the author sees.
    case warn
    /// No posting in the group (or the town) until a time.
    case suspend
    /// Out of the group, for a time or for good.
    case ban
    /// The flags were unfounded: closed without action (restored if hidden).
    case ignore
    /// A group moderator hands the item to the town's moderators.
    case escalate

    /// Actions that close the item (the reporters are told the outcome).
    public var decides: Bool { [.keep, .hide, .delete, .ignore].contains(self) }
}

/// What a post's moderation state is.
public enum PostModeration: String, Codable, Sendable {
    case visible, hidden, removed
    /// Waiting for a moderator's approval (a watched word, or a new account's post in a
    /// group that asks for approval).
    case held

    /// Seen by its author (and moderators) but nobody else.
    public var authorOnly: Bool { self == .hidden || self == .held }
}

/// How much one flag counts toward hiding a post.
public enum FlagWeight {
    /// A new account's flag counts half; every flag of the account that moderators upheld
    /// (the post removed) adds a quarter and every one they rejected (kept, ignored) takes a
    /// quarter away, between a quarter and two.
    public static func weight(isNewAccount: Bool, upheld: Int, rejected: Int) -> Double {
        let base = isNewAccount ? 0.5 : 1.0
        return min(2.0, max(0.25, base + 0.25 * Double(upheld) - 0.25 * Double(rejected)))
    }
}

extension Policy {
    /// Acting on a queue item. A group's moderators act on their group's items until the
    /// item reaches the town (escalated, appealed, or decided by the town's moderators); from
    /// then on only the town's moderators act on it, so a group cannot overturn the town.
    /// Nobody but the town's moderators judges their own post.
    public static func decideModeration(_ actor: Actor, townHandled: Bool, isAuthor: Bool, groupStanding: GroupStanding) -> Decision {
        switch decide(actor, .moderate, in: groupStanding) {
        case .allow:
            if actor.isTownModerator { return .allow }
            if isAuthor { return .hidden }
            if townHandled { return .deny(reason: "the town's moderators have this item") }
            return .allow
        case .deny: return .hidden
        case .hidden: return .hidden
        }
    }

    /// Appeals, the moderation log and its export: the town's moderators and admins.
    public static func decideTownModeration(_ actor: Actor) -> Decision {
        actor.isTownModerator ? .allow : .deny(reason: "only the town's moderators may do this")
    }
}
