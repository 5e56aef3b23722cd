/// Who may do what. One pure function, called by every route, so the whole permission
/// matrix can be read (and tested) in one place.
public enum Action: Sendable, Equatable {
    case readOwnAccount
    case endOwnSession
    case changeOwnPassword
    case grantTownRole(Role, to: AccountID)
    case revokeTownRole(Role, from: AccountID)
    /// Compose, send, cancel and follow alert mail; see and register subscribers.
    case sendAlerts
    /// Edit the alert categories (and which are mandatory) and the areas.
    case configureAlerts
    /// Put dead mail back in the queue, and lift an address's suppression, once the cause
    /// is fixed (seeing them is `sendAlerts`).
    case repairMailDelivery
    /// Create a school, nursery, facility or the town office, with its first admin.
    case createOrganization
}

public enum Decision: Sendable, Equatable {
    case allow
    /// Refused; `reason` is safe to show the actor.
    case deny(reason: String)
    /// Refused, and the resource's existence is not revealed either (a private group to a
    /// non-member answers exactly as a group that does not exist).
    case hidden
}

public enum Policy {
    public static func decide(_ actor: Actor, _ action: Action) -> Decision {
        switch action {
        case .readOwnAccount, .endOwnSession, .changeOwnPassword:
            return .allow
        case .grantTownRole(let role, _), .revokeTownRole(let role, _):
            guard actor.isTownAdmin else { return .deny(reason: "only a town administrator may change town roles") }
            guard Role.grantableTownWide.contains(role) else {
                return .deny(reason: "role \(role.rawValue) cannot be granted town-wide")
            }
            if case .revokeTownRole(.townAdmin, let target) = action, target == actor.accountID {
                // The town must never lock itself out by an administrator demoting themself.
                return .deny(reason: "an administrator cannot revoke their own administrator role")
            }
            return .allow
        case .sendAlerts:
            // Subscribers' addresses are personal data: only the staff who send alerts see them.
            return actor.isAlertSender ? .allow : .deny(reason: "only town alert staff may do this")
        case .configureAlerts:
            return actor.isTownAdmin ? .allow : .deny(reason: "only a town administrator may change alert categories and areas")
        case .repairMailDelivery:
            return actor.isTownAdmin ? .allow : .deny(reason: "only a town administrator may requeue mail or lift a suppression")
        case .createOrganization:
            return actor.isTownAdmin ? .allow : .deny(reason: "only a town administrator may create organizations")
        }
    }
}

extension Policy {
    /// Group permissions. Town moderators and admins read and moderate every group (the
    /// town answers for what is posted), but only members participate.
    public static func decide(_ actor: Actor, _ action: GroupAction, in group: GroupStanding) -> Decision {
        let isMember = group.role != nil && !group.banned
        let canSee = isMember || group.visibility == .public || actor.isTownModerator
        switch action {
        case .read:
            if canSee { return .allow }
            return .hidden
        case .participate:
            guard canSee else { return .hidden }
            if group.banned { return .deny(reason: "you are banned from this group") }
            return isMember ? .allow : .deny(reason: "join the group to post")
        case .join:
            // An invitation is how a private group becomes visible to a non-member.
            guard canSee || group.invited else { return .hidden }
            if group.banned { return .deny(reason: "you are banned from this group") }
            if isMember { return .deny(reason: "you are already a member") }
            if group.joinPolicy == .invite && !group.invited { return .deny(reason: "this group is by invitation only") }
            return .allow
        case .leave:
            guard canSee else { return .hidden }
            return group.role != nil ? .allow : .deny(reason: "you are not a member")
        case .moderate:
            guard canSee else { return .hidden }
            if actor.isTownModerator { return .allow }
            if let role = group.role, !group.banned, role >= .moderator { return .allow }
            return .deny(reason: "only the group's moderators may do this")
        case .administer:
            guard canSee else { return .hidden }
            if actor.isTownAdmin { return .allow }
            if group.role == .owner && !group.banned { return .allow }
            return .deny(reason: "only the group's owners may do this")
        }
    }
}
