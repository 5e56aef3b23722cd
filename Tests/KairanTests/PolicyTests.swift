import KairanCore
import Testing

/// The town-role part of the permission matrix, enumerated.
@Suite struct PolicyTests {
    static let resident = Actor(accountID: 1, roles: [.resident])
    static let moderator = Actor(accountID: 2, roles: [.resident, .townModerator])
    static let admin = Actor(accountID: 3, roles: [.resident, .townAdmin])

    @Test func everyoneMayReadThemselvesAndLogOut() {
        for actor in [Self.resident, Self.moderator, Self.admin] {
            #expect(Policy.decide(actor, .readOwnAccount) == .allow)
            #expect(Policy.decide(actor, .endOwnSession) == .allow)
        }
    }

    @Test func onlyAdminsChangeTownRoles() {
        for role in Role.grantableTownWide {
            #expect(Policy.decide(Self.resident, .grantTownRole(role, to: 9)) != .allow)
            #expect(Policy.decide(Self.moderator, .grantTownRole(role, to: 9)) != .allow)
            #expect(Policy.decide(Self.admin, .grantTownRole(role, to: 9)) == .allow)
            #expect(Policy.decide(Self.admin, .revokeTownRole(role, from: 9)) == .allow)
            #expect(Policy.decide(Self.moderator, .revokeTownRole(role, from: 9)) != .allow)
        }
    }

    @Test func scopedRolesAreNotGrantedTownWide() {
        for role in Role.allCases where !Role.grantableTownWide.contains(role) {
            #expect(Policy.decide(Self.admin, .grantTownRole(role, to: 9)) != .allow)
        }
    }

    @Test func anAdminCannotDemoteThemself() {
        #expect(Policy.decide(Self.admin, .revokeTownRole(.townAdmin, from: Self.admin.accountID)) != .allow)
        #expect(Policy.decide(Self.admin, .revokeTownRole(.townModerator, from: Self.admin.accountID)) == .allow)
    }
}
