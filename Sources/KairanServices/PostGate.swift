import Foundation
import KairanCore
import KairanStore
import Logging
import PostgresNIO

/// What every new or edited post passes before it is written: suspensions, the posting
/// rate, the new-account sandbox and the watched words.
enum PostGate {
    enum Disposition: Sendable {
        case publish
        /// Kept back for a moderator's approval, seen only by its author meanwhile.
        case hold(source: String, reason: String)
        /// Published, and queued for a moderator to look at.
        case flag(WatchedWord)
    }

    /// Counts one use of `action` against the actor's limit; `rateLimited` when it is used up.
    static func checkRate(
        _ action: RateLimitedAction, actor: Actor, isNewAccount: Bool, settings: ModerationSettings, now: Date,
        on db: DatabaseConnection
    ) async throws {
        guard let limit = Sandbox.limit(for: action, actor: actor, isNewAccount: isNewAccount, newAccountPostsPerHour: settings.newAccountPostsPerHour),
              let retry = try await ModerationStore.hit(action, account: actor.accountID, limit: limit, now: now, on: db)
        else { return }
        throw ServiceError.rateLimited(action: action.rawValue, retryAfter: retry)
    }

    /// What the gate decided, and what it read that its caller may need.
    struct Verdict: Sendable {
        let disposition: Disposition
        /// The poster's display name.
        let posterName: String?
        let isNewAccount: Bool
        let settings: ModerationSettings
    }

    /// Reads what the gate asks and decides; a new post (not an edit) counts against the
    /// rate limit here. A plain reply reads the gate with its access check and decides with
    /// `verdict`, and counts its use of the limit in the statement that writes it
    /// (`ThreadStore.insertAndPublishReply`, from the verdict's `isNewAccount` and
    /// `settings`), so a refused reply uses up nothing.
    static func check(
        _ actor: Actor, group: GroupID, standing: GroupStanding, body: String, isEdit: Bool, now: Date, on db: DatabaseConnection
    ) async throws -> Verdict {
        // One statement reads all the gate asks (suspension, sandbox, watched words, the
        // group's approval rule); the checks are then made in this order.
        let reading = try await ModerationStore.gateReading(account: actor.accountID, group: group, text: WatchedWords.Text(body), now: now,
                                                            on: db)
        try refuseIfSuspended(reading)
        if !isEdit {
            try await checkRate(.post, actor: actor, isNewAccount: reading.isNew, settings: reading.settings, now: now, on: db)
        }
        return try unsuspendedVerdict(reading, actor: actor, standing: standing, body: body)
    }

    /// The gate's decision on what it read (`ModerationStore.gateReading`, or a plain reply's
    /// one statement with the access check), the rate limit left to the caller.
    static func verdict(_ reading: ModerationStore.GateReading, actor: Actor, standing: GroupStanding, body: String) throws -> Verdict {
        try refuseIfSuspended(reading)
        return try unsuspendedVerdict(reading, actor: actor, standing: standing, body: body)
    }

    private static func refuseIfSuspended(_ reading: ModerationStore.GateReading) throws {
        if let until = reading.suspendedUntil {
            throw ServiceError.refused(code: "suspended", message: "you are suspended from posting until \(until.formatted(.iso8601))")
        }
    }

    /// The checks after the suspension and the rate limit.
    private static func unsuspendedVerdict(_ reading: ModerationStore.GateReading, actor: Actor, standing: GroupStanding, body: String) throws -> Verdict {
        Verdict(disposition: try decide(reading, body: body, moderator: GroupAccess.isModerator(actor, in: standing)),
                posterName: reading.posterName, isNewAccount: reading.isNew, settings: reading.settings)
    }

    /// The checks after the rate limit, in order.
    private static func decide(_ reading: ModerationStore.GateReading, body: String, moderator: Bool) throws -> Disposition {
        let (settings, isNew) = (reading.settings, reading.isNew)
        if isNew && !moderator && Sandbox.linkCount(in: body) > settings.newAccountMaxLinks {
            throw ServiceError.invalid(code: "too_many_links",
                                       message: "new accounts may include at most \(settings.newAccountMaxLinks) links in a post", field: "body")
        }
        if let word = reading.watchedWord {
            switch word.action {
            case .block:
                throw ServiceError.invalid(code: "blocked_word",
                                           message: "this post contains 「\(word.pattern)」, which the town does not allow; please rewrite it", field: "body")
            case .hold:
                return .hold(source: "watched_word", reason: "watched word: \(word.pattern)")
            case .flag:
                return .flag(word)
            }
        }
        // Edits too: a post approved as "hello" must not turn into spam unreviewed.
        if isNew && !moderator && reading.groupApprovesNewAccounts {
            return .hold(source: "approval", reason: "new account in a group that approves new accounts' posts")
        }
        return .publish
    }

    /// Applies the disposition to the written post. Returns whether the post may be shown
    /// (announced live, mentions notified) now.
    static func apply(_ disposition: Disposition, post: PostRecord, isEdit: Bool, now: Date, on db: DatabaseConnection) async throws -> Bool {
        let body = post.body ?? ""
        switch disposition {
        case .publish:
            return true
        case .hold(let source, let reason):
            try await ModerationEffects.setPost(post.id, to: .held, now: now, on: db)
            if !isEdit {
                // A held post does not move its thread up the list: others must not learn of it.
                try await ThreadStore.recomputeLastPostAt(post.threadID, on: db)
            }
            if isEdit { try await ModerationEffects.scrub(post: post, on: db) }
            let (item, state, _) = try await ModerationStore.openItem(post: post, body: body, source: source, now: now, on: db)
            if state != .pending && state != .escalated {
                try await ModerationStore.setState(item, .pending, decided: false, now: now, on: db)
            }
            try await ModerationStore.log("hold", item: item, post: post.id, group: post.groupID, actor: nil, reason: reason, now: now,
                                          on: db)
            try await Announce.queueItem(item, group: post.groupID, post: post.id, state: .pending, autoHidden: false, townOnly: false, now: now, on: db)
            return false
        case .flag(let word):
            let (item, _, created) = try await ModerationStore.openItem(post: post, body: body, source: "watched_word", now: now, on: db)
            try await ModerationStore.log("watched_word", item: item, post: post.id, group: post.groupID, actor: nil, reason: word.pattern, now: now,
                                          on: db)
            if created {
                try await Announce.queueItem(item, group: post.groupID, post: post.id, state: .pending, autoHidden: false, townOnly: false, now: now, on: db)
            }
            return true
        }
    }
}
