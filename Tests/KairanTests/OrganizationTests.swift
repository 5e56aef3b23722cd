import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import KairanStore
import Testing

@testable import KairanServer

/// Organizations, their staff, classes, children and guardians (school notices issue, first
/// part): scoped by the policy, so one school's staff never see another school's children.
@Suite struct OrganizationTests {
    struct School {
        let id: Int
        let admin: Resident
        let teacher: Resident
        let classID: Int
        let childID: Int
    }

    /// A school with an admin, a teacher, class 1年1組 and one child in it.
    func makeSchool(_ client: any TestClientProtocol, townAdmin: String, name: String, prefix: String) async throws -> School {
        let admin = try await client.resident("\(prefix)-admin@school.example.jp")
        let teacher = try await client.resident("\(prefix)-teacher@school.example.jp")
        let created = try await client.send(.post, "/v1/organizations", json: jsonObject(["kind": "school", "name": name, "adminAccountId": admin.id]), token: townAdmin)
        try #require(created.status == .created, "\(created.text)")
        let id = try #require(created.json()["id"] as? Int)
        #expect(try await client.send(.put, "/v1/organizations/\(id)/staff/\(teacher.id)", json: jsonObject(["role": "staff"]), token: admin.token).status == .noContent)
        let classResponse = try await client.send(.post, "/v1/organizations/\(id)/classes", json: jsonObject(["name": "1年1組", "grade": 1]), token: admin.token)
        try #require(classResponse.status == .created, "\(classResponse.text)")
        let classID = try #require(classResponse.json()["id"] as? Int)
        let child = try await client.send(.post, "/v1/organizations/\(id)/children", json: jsonObject(["name": "\(prefix) 太郎", "classId": classID]), token: teacher.token)
        try #require(child.status == .created, "\(child.text)")
        return School(id: id, admin: admin, teacher: teacher, classID: classID, childID: try #require(child.json()["id"] as? Int))
    }

    func linkCode(_ client: any TestClientProtocol, school: School, child: Int? = nil) async throws -> String {
        let response = try await client.send(.post, "/v1/organizations/\(school.id)/children/\(child ?? school.childID)/link-codes", token: school.teacher.token)
        try #require(response.status == .created, "\(response.text)")
        return try #require(response.json()["code"] as? String)
    }

    func withTown(_ body: @escaping @Sendable (any TestClientProtocol, String) async throws -> Void) async throws {
        try await withApp(configure: { $0.role = .api }) { client, url in
            let townAdmin = try await client.registerAndLogin(email: "soumu@town.example.jp")
            try await grantRole("town_admin", to: "soumu@town.example.jp", in: url)
            try await body(client, townAdmin)
        }
    }

    @Test func onlyTownAdminsCreateOrganizations() async throws {
        try await withTown { client, townAdmin in
            let resident = try await client.resident("someone@example.jp")
            let body = jsonObject(["kind": "nursery", "name": "中央保育所", "adminAccountId": resident.id])
            #expect(try await client.send(.post, "/v1/organizations", json: body, token: resident.token).status == .forbidden)
            let created = try await client.send(.post, "/v1/organizations", json: body, token: townAdmin)
            #expect(created.status == .created)
            let listed = try await client.send(.get, "/v1/organizations", token: resident.token).items()
            #expect(listed.map { $0["name"] as? String } == ["中央保育所"], "the new admin sees it")
            let unknown = try await client.send(.post, "/v1/organizations", json: jsonObject(["kind": "school", "name": "x", "adminAccountId": 999999]), token: townAdmin)
            #expect(try unknown.errorCode() == "unknown_account")
        }
    }

    @Test func aHouseholdSeesItsChildrenInTwoSchoolsAndNothingElse() async throws {
        try await withTown { client, townAdmin in
            let north = try await makeSchool(client, townAdmin: townAdmin, name: "北小学校", prefix: "north")
            let south = try await makeSchool(client, townAdmin: townAdmin, name: "南中学校", prefix: "south")
            let third = try await makeSchool(client, townAdmin: townAdmin, name: "東小学校", prefix: "east")
            let mother = try await client.resident("mother@example.jp", name: "山田 花子")
            let father = try await client.resident("father@docomo.ne.jp", name: "山田 一郎")

            // The mother links both children (two schools); the father joins through a second code.
            #expect(try await client.send(.post, "/v1/me/children", json: jsonObject(["code": try await linkCode(client, school: north)]), token: mother.token).status == .created)
            #expect(try await client.send(.post, "/v1/me/children", json: jsonObject(["code": try await linkCode(client, school: south)]), token: mother.token).status == .created)
            let fatherCode = try await linkCode(client, school: north)
            #expect(try await client.send(.post, "/v1/me/children", json: jsonObject(["code": fatherCode]), token: father.token).status == .created)
            let reused = try await client.send(.post, "/v1/me/children", json: jsonObject(["code": fatherCode]), token: father.token)
            #expect(try reused.errorCode() == "invalid_code", "codes are single-use")

            for parent in [mother, father] {
                let children = try await client.send(.get, "/v1/me/children", token: parent.token).items()
                #expect(Set(children.compactMap { $0["organizationName"] as? String }) == ["北小学校", "南中学校"])
                let organizations = try await client.send(.get, "/v1/organizations", token: parent.token).items()
                #expect(Set(organizations.compactMap { $0["name"] as? String }) == ["北小学校", "南中学校"])
                #expect(try await client.send(.get, "/v1/organizations/\(third.id)", token: parent.token).status == .notFound)
            }
            // The school's staff see both guardians of the household.
            let guardians = try await client.send(.get, "/v1/organizations/\(north.id)/children/\(north.childID)/guardians", token: north.teacher.token).items()
            #expect(Set(guardians.compactMap { $0["name"] as? String }) == ["山田 花子", "山田 一郎"])

            // Another family cannot pull this child into its household.
            let other = try await client.resident("other@example.jp")
            let otherChild = try await client.send(.post, "/v1/organizations/\(third.id)/children", json: jsonObject(["name": "別の 子"]), token: third.teacher.token)
            let otherChildID = try #require(otherChild.json()["id"] as? Int)
            _ = try await client.send(.post, "/v1/me/children", json: jsonObject(["code": try await linkCode(client, school: third, child: otherChildID)]), token: other.token)
            let conflict = try await client.send(.post, "/v1/me/children", json: jsonObject(["code": try await linkCode(client, school: third, child: otherChildID)]), token: mother.token)
            #expect(conflict.status == .conflict)
        }
    }

    @Test func aGuardianChoosesAppMailOrBoth() async throws {
        try await withTown { client, townAdmin in
            let school = try await makeSchool(client, townAdmin: townAdmin, name: "西小学校", prefix: "west")
            let parent = try await client.resident("parent@example.jp", name: "鈴木 母")
            #expect(try await client.send(.get, "/v1/me/guardian", token: parent.token).status == .notFound, "not a guardian yet")
            _ = try await client.send(.post, "/v1/me/children", json: jsonObject(["code": try await linkCode(client, school: school)]), token: parent.token)
            let initial = try await client.send(.get, "/v1/me/guardian", token: parent.token)
            #expect(try initial.json()["delivery"] as? String == "app")
            let both = try await client.send(.put, "/v1/me/guardian", json: jsonObject(["delivery": "both"]), token: parent.token)
            #expect(try both.json()["delivery"] as? String == "both")
            #expect(try both.json()["email"] as? String == "parent@example.jp", "the account's address by default")
            let carrier = try await client.send(.put, "/v1/me/guardian", json: jsonObject(["delivery": "mail", "email": "haha..suzuki@docomo.ne.jp"]), token: parent.token)
            #expect(try carrier.json()["email"] as? String == "haha..suzuki@docomo.ne.jp")
            let bad = try await client.send(.put, "/v1/me/guardian", json: jsonObject(["delivery": "pigeon"]), token: parent.token)
            #expect(bad.status == .badRequest)
            // The school sees the choice.
            let guardians = try await client.send(.get, "/v1/organizations/\(school.id)/children/\(school.childID)/guardians", token: school.teacher.token).items()
            #expect(guardians.first?["delivery"] as? String == "mail")
        }
    }

    @Test func quietHoursAreSetAndClearedByTheOrgAdmin() async throws {
        try await withTown { client, townAdmin in
            let school = try await makeSchool(client, townAdmin: townAdmin, name: "静小学校", prefix: "quiet")
            let path = "/v1/organizations/\(school.id)"
            let set = try await client.send(.patch, path, json: jsonObject(["quietHours": ["start": "21:00", "end": "07:00"]]), token: school.admin.token)
            #expect((try set.json()["quietHours"] as? [String: String]) == ["start": "21:00", "end": "07:00"])
            let renamed = try await client.send(.patch, path, json: jsonObject(["name": "静か小学校"]), token: school.admin.token)
            #expect((try renamed.json()["quietHours"] as? [String: String])?["start"] == "21:00", "absent: unchanged")
            let bad = try await client.send(.patch, path, json: jsonObject(["quietHours": ["start": "25:00", "end": "07:00"]]), token: school.admin.token)
            #expect(try bad.errorCode() == "invalid_time")
            let cleared = try await client.send(.patch, path, json: #"{"quietHours": null}"#, token: school.admin.token)
            #expect(try cleared.json()["quietHours"] == nil, "null: no quiet hours")
        }
    }

    @Test func staffRegisterAGuardianWithMailOnly() async throws {
        try await withTown { client, townAdmin in
            let school = try await makeSchool(client, townAdmin: townAdmin, name: "北保育所", prefix: "hoiku")
            let added = try await client.send(.post, "/v1/organizations/\(school.id)/children/\(school.childID)/guardians",
                                              json: jsonObject(["name": "佐藤 祖母", "email": "obaachan..sato@ezweb.ne.jp", "phone": "090-0000-0000"]),
                                              token: school.teacher.token)
            #expect(added.status == .created, "\(added.text)")
            #expect(try added.json()["delivery"] as? String == "mail")
            #expect(try added.json()["hasAccount"] as? Bool == false)
            #expect(try added.json()["email"] as? String == "obaachan..sato@ezweb.ne.jp", "legacy address kept byte for byte")
            let bad = try await client.send(.post, "/v1/organizations/\(school.id)/children/\(school.childID)/guardians",
                                            json: jsonObject(["name": "x", "email": "not an address"]), token: school.teacher.token)
            #expect(try bad.errorCode() == "invalid_email")
        }
    }

    /// Every route of this feature, by every kind of caller: staff of school B, a guardian of
    /// a school B child and strangers get 404 for school A; guardians and town admins see the
    /// school but not its children (403); school A's staff and admin get through.
    @Test func roleByOrganizationMatrix() async throws {
        try await withTown { client, townAdmin in
            let a = try await makeSchool(client, townAdmin: townAdmin, name: "A小学校", prefix: "a")
            let b = try await makeSchool(client, townAdmin: townAdmin, name: "B小学校", prefix: "b")
            let guardianA = try await client.resident("guardian-a@example.jp")
            let guardianB = try await client.resident("guardian-b@example.jp")
            _ = try await client.send(.post, "/v1/me/children", json: jsonObject(["code": try await linkCode(client, school: a)]), token: guardianA.token)
            _ = try await client.send(.post, "/v1/me/children", json: jsonObject(["code": try await linkCode(client, school: b)]), token: guardianB.token)
            let stranger = try await client.resident("stranger@example.jp")
            let newcomer = try await client.resident("newcomer@example.jp")

            struct Route {
                let method: HTTPRequest.Method
                let path: String
                let body: String?
                /// What the organization's own teacher gets.
                let staffStatus: HTTPResponse.Status
                let adminOnly: Bool
            }
            let org = "/v1/organizations/\(a.id)"
            let child = "\(org)/children/\(a.childID)"
            let staffRoutes: [Route] = [
                Route(method: .get, path: "\(org)/staff", body: nil, staffStatus: .ok, adminOnly: false),
                Route(method: .get, path: "\(org)/classes", body: nil, staffStatus: .ok, adminOnly: false),
                Route(method: .get, path: "\(org)/children", body: nil, staffStatus: .ok, adminOnly: false),
                Route(method: .post, path: "\(org)/children", body: jsonObject(["name": "新入 生"]), staffStatus: .created, adminOnly: false),
                Route(method: .get, path: "\(child)/guardians", body: nil, staffStatus: .ok, adminOnly: false),
                Route(method: .post, path: "\(child)/guardians", body: jsonObject(["name": "祖父", "email": "sofu@example.jp"]), staffStatus: .created, adminOnly: false),
                Route(method: .post, path: "\(child)/link-codes", body: nil, staffStatus: .created, adminOnly: false),
                Route(method: .patch, path: org, body: jsonObject(["requiresApproval": true]), staffStatus: .forbidden, adminOnly: true),
                Route(method: .post, path: "\(org)/classes", body: jsonObject(["name": "2年1組"]), staffStatus: .forbidden, adminOnly: true),
                Route(method: .put, path: "\(org)/staff/\(newcomer.id)", body: jsonObject(["role": "staff"]), staffStatus: .forbidden, adminOnly: true),
            ]
            for route in staffRoutes {
                let label = "\(route.method) \(route.path)"
                for outsider in [b.teacher.token, b.admin.token, guardianB.token, stranger.token] {
                    #expect(try await client.send(route.method, route.path, json: route.body, token: outsider).status == .notFound, "outsider: \(label)")
                }
                #expect(try await client.send(route.method, route.path, json: route.body).status == .unauthorized, "anonymous: \(label)")
                #expect(try await client.send(route.method, route.path, json: route.body, token: guardianA.token).status == .forbidden, "guardian: \(label)")
                let townStatus: HTTPResponse.Status = route.adminOnly ? (route.method == .post ? .created : (route.method == .put ? .noContent : .ok)) : .forbidden
                #expect(try await client.send(route.method, route.path, json: route.body, token: townAdmin).status == townStatus, "town admin: \(label)")
                #expect(try await client.send(route.method, route.path, json: route.body, token: a.teacher.token).status == route.staffStatus, "teacher: \(label)")
            }
            // Reading the organization itself: its people and guardians may, others not.
            for token in [a.teacher.token, a.admin.token, guardianA.token, townAdmin] {
                #expect(try await client.send(.get, org, token: token).status == .ok)
            }
            for token in [b.teacher.token, guardianB.token, stranger.token] {
                #expect(try await client.send(.get, org, token: token).status == .notFound)
            }
            // A child id of school B under school A's path is not found either.
            #expect(try await client.send(.get, "\(org)/children/\(b.childID)/guardians", token: a.teacher.token).status == .notFound)
            // The last admin can be neither demoted nor removed; a teacher can be removed.
            #expect(try await client.send(.put, "\(org)/staff/\(a.admin.id)", json: jsonObject(["role": "staff"]), token: a.admin.token).status == .conflict)
            #expect(try await client.send(.delete, "\(org)/staff/\(a.admin.id)", token: a.admin.token).status == .conflict)
            #expect(try await client.send(.delete, "\(org)/staff/\(a.teacher.id)", token: a.admin.token).status == .noContent)
        }
    }
}
