/// Community groups (地区, circles) and parenting forums (子育て).
public typealias GroupID = Int64
public typealias ThreadID = Int64
public typealias PostID = Int64

public enum GroupKind: String, CaseIterable, Codable, Sendable {
    case community
    case parenting
}

public enum GroupVisibility: String, CaseIterable, Codable, Sendable {
    /// Listed, and readable by every signed-in resident.
    case `public`
    /// Readable by members only; to anyone else it does not exist (404).
    case `private`
}

public enum JoinPolicy: String, CaseIterable, Codable, Sendable {
    case open
    case approval
    case invite
}

public enum GroupRole: String, CaseIterable, Codable, Sendable, Comparable {
    case member
    case moderator
    case owner

    public static func < (lhs: GroupRole, rhs: GroupRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Reactions are a small fixed set: enough to say "thanks" or "me too" without a comment,
/// and nothing that needs moderating.
public enum Reaction: String, CaseIterable, Codable, Sendable {
    case like
    case thanks
    case agree
    case smile
    case sad
}

/// What the policy needs to know about one actor and one group.
public struct GroupStanding: Sendable, Equatable {
    public var visibility: GroupVisibility
    public var joinPolicy: JoinPolicy
    /// nil when not a member.
    public var role: GroupRole?
    /// An active (unexpired) ban.
    public var banned: Bool
    /// An open invitation for this actor.
    public var invited: Bool

    public init(visibility: GroupVisibility, joinPolicy: JoinPolicy, role: GroupRole?, banned: Bool = false, invited: Bool = false) {
        self.visibility = visibility
        self.joinPolicy = joinPolicy
        self.role = role
        self.banned = banned
        self.invited = invited
    }
}

public enum GroupAction: Sendable, Equatable, CaseIterable {
    /// See the group, its threads and posts.
    case read
    /// Start threads, post, reply, react.
    case participate
    case join
    case leave
    /// Approve or deny join requests, invite, pin and lock threads, delete others' posts,
    /// remove and ban members.
    case moderate
    /// Change name, description, visibility, join policy; change members' roles.
    case administer
}
