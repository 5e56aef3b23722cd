import Foundation
import HummingbirdTesting
import Testing

@testable import KairanServer

/// One family registered twice becomes one household.
@Suite struct HouseholdTests {
    /// The mother is in the app at the primary school; the nursery registered the father by
    /// mail for the younger child first. The nursery's link code now brings the younger child
    /// into the mother's household (it was 409 `household_conflict`), so both parents get the
    /// nursery's notices, and the nursery's admins see the merge it vouched for.
    @Test func aLinkCodeForAChildOfAnotherHouseholdJoinsTheTwo() async throws {
        let server = ScriptedSMTPServer()
        try await server.start()
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let nursery = try await town.school("南保育所", prefix: "south")
            let mother = try await town.client.resident("mother@example.jp", name: "山田 花子")
            let elder = try await town.enrol(school, "山田 太郎", in: "1-1")
            try await town.link(mother, to: elder, at: school)
            let younger = try await town.enrol(nursery, "山田 次郎", in: "1-1")
            try await town.mailGuardian(nursery, child: younger, name: "山田 一郎", email: "yamada.ichiro@docomo.ne.jp")

            try await town.link(mother, to: younger, at: nursery)
            let children = try await town.client.send(.get, "/v1/me/children", token: mother.token).items()
            #expect(Set(children.compactMap { $0["name"] as? String }) == ["山田 太郎", "山田 次郎"])

            let posted = try await town.post(nursery, by: nursery.teacher.token, ["title": "遠足のお知らせ"])
            let notice = try #require(try posted.json()["id"] as? Int)
            let status = try await town.client.send(.get, "/v1/organizations/\(nursery.id)/notices/\(notice)/status", token: nursery.teacher.token).json()
            let counts = try #require(status["counts"] as? [String: Any])
            #expect(counts["households"] as? Int == 1 && counts["guardians"] as? Int == 2, "one family, both parents: \(counts)")
            #expect(try await town.client.send(.get, "/v1/me/notices", token: mother.token).items().contains { $0["id"] as? Int == notice })
            #expect(try await town.deliver(to: server) == 1, "the father by mail")

            let merges = try await town.client.send(.get, "/v1/organizations/\(nursery.id)/households/merges", token: nursery.admin.token).items()
            #expect(merges.count == 1)
            #expect(merges.first?["via"] as? String == "link_code" && merges.first?["childrenMoved"] as? Int == 1 && merges.first?["guardiansMoved"] as? Int == 1)
            #expect(merges.first?["byAccountId"] as? Int == mother.id)
            #expect(try await town.client.send(.get, "/v1/organizations/\(school.id)/households/merges", token: school.admin.token).items().isEmpty)
            #expect(try await town.client.send(.get, "/v1/organizations/\(nursery.id)/households/merges", token: nursery.teacher.token).status == .forbidden)
        }
        await server.stop()
    }

    /// Brothers enrolled separately, each with the same parent registered by mail: the
    /// school's admin merges the two households with a reason; a notice to the school then
    /// counts the family once. Only the school's own admins may.
    @Test func anAdminMergesTwoHouseholdsOfOneFamily() async throws {
        try await NoticeTown.with { town in
            let school = try await town.school("北小学校", prefix: "north")
            let first = try await town.enrol(school, "佐藤 一郎", in: "1-1")
            let second = try await town.enrol(school, "佐藤 二郎", in: "2-1")
            try await town.mailGuardian(school, child: first, name: "佐藤 文子", email: "sato@example.jp")
            try await town.mailGuardian(school, child: second, name: "佐藤 文子", email: "sato.fumiko@example.jp")
            let path = "/v1/organizations/\(school.id)/households/merge"
            let body = jsonObject(["childId": first, "withChildId": second, "reason": "同じ家庭を二重に登録していたため"])

            #expect(try await town.client.send(.post, path, json: body, token: school.teacher.token).status == .forbidden, "staff may not")
            #expect(try await town.client.send(.post, path, json: body, token: town.townAdmin).status == .forbidden, "nor the town")
            #expect(try await town.client.send(.post, path, json: jsonObject(["childId": first, "withChildId": 999_999, "reason": "x"]),
                                               token: school.admin.token).errorCode() == "unknown_child")
            #expect(try await town.client.send(.post, path, json: jsonObject(["childId": first, "withChildId": second, "reason": ""]),
                                               token: school.admin.token).errorCode() == "required")
            #expect(try await town.client.send(.post, path, json: jsonObject(["childId": first, "withChildId": first, "reason": "x"]),
                                               token: school.admin.token).errorCode() == "same_child")
            let merged = try await town.client.send(.post, path, json: body, token: school.admin.token)
            #expect(merged.status == .ok, "\(merged.text)")
            #expect(try merged.json()["via"] as? String == "staff" && merged.json()["reason"] as? String == "同じ家庭を二重に登録していたため")
            #expect(try await town.client.send(.post, path, json: body, token: school.admin.token).errorCode() == "same_household")

            let posted = try await town.post(school, by: school.teacher.token, ["title": "学校だより"])
            let notice = try #require(try posted.json()["id"] as? Int)
            let status = try await town.client.send(.get, "/v1/organizations/\(school.id)/notices/\(notice)/status", token: school.teacher.token).json()
            #expect((status["counts"] as? [String: Any])?["households"] as? Int == 1)
            let merges = try await town.client.send(.get, "/v1/organizations/\(school.id)/households/merges", token: school.admin.token).items()
            #expect(merges.count == 1 && merges.first?["guardiansMoved"] as? Int == 1)

            // A household with a child at another school is not this school's to merge: it
            // would hand that school's child to this school's family.
            let other = try await town.school("南小学校", prefix: "south")
            let mother = try await town.client.resident("tanaka@example.jp", name: "田中 恵")
            let third = try await town.enrol(school, "田中 花子", in: "1-1")
            try await town.link(mother, to: third, at: school)
            try await town.link(mother, to: try await town.enrol(other, "田中 次郎", in: "2-1"), at: other)
            let across = try await town.client.send(.post, path, json: jsonObject(["childId": first, "withChildId": third, "reason": "同じ家庭"]),
                                                    token: school.admin.token)
            #expect(try across.errorCode() == "other_organization" && across.status == .conflict)
            #expect(try await town.client.send(.get, "/v1/organizations/\(school.id)/households/merges", token: school.admin.token).items().count == 1)
        }
    }
}
