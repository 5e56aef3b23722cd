/// Who may do what. One pure function, called by every route, so the whole permission
/// matrix can be read (and tested) in one place.
public enum Action: Sendable, Equatable {
    case readOwnAccount
    case endOwnSession
    case listAccounts
    case grantTownRole(Role, to: AccountID)
    case revokeTownRole(Role, from: AccountID)
}

public enum Decision: Sendable, Equatable {
    case allow
    /// Refused; `reason` is safe to show the actor.
    case deny(reason: String)
}

public enum Policy {
    public static func decide(_ actor: Actor, _ action: Action) -> Decision {
        switch action {
        case .readOwnAccount, .endOwnSession:
            return .allow
        case .listAccounts:
            return actor.isTownAdmin ? .allow : .deny(reason: "only a town administrator may list accounts")
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
        }
    }
}
