import Foundation
import Hummingbird
import HummingbirdTesting
import KairanCore
import Testing

@testable import KairanServer

/// Role × organization over every route of the notices feature: staff of school B, its
/// guardians and strangers get 404 for everything of school A; anonymous callers 401; a
/// guardian of school A and town admins (who never see children's data) 403 on staff
/// routes; school A's teacher what a teacher may do, and 403 where only its admins may.
@Suite struct NoticePermissionTests {
    struct Route {
        let method: HTTPRequest.Method
        let path: String
        let body: [String: Any]?
        let teacherStatus: HTTPResponse.Status
        /// Town admins appoint a school's people (class teachers too), but never see its
        /// children's data or notices.
        var townAdminStatus: HTTPResponse.Status = .forbidden
    }

    @Test func roleByOrganizationMatrixOverEveryNoticeRoute() async throws {
        try await NoticeTown.with { town in
            let a = try await town.school("A小学校", prefix: "a")
            let b = try await town.school("B小学校", prefix: "b")
            let guardianA = try await town.client.resident("guardian-a@example.jp")
            let guardianB = try await town.client.resident("guardian-b@example.jp")
            let childA = try await town.enrol(a, "A 太郎", in: "1-1")
            try await town.link(guardianA, to: childA, at: a)
            try await town.link(guardianB, to: try await town.enrol(b, "B 花子", in: "1-1"), at: b)
            let stranger = try await town.client.resident("stranger@example.jp")
            let client = town.client

            let org = "/v1/organizations/\(a.id)"
            func id(_ response: TestResponse) throws -> Int { try #require(response.json()["id"] as? Int, "\(response.text)") }
            let notice = try id(try await town.post(a, by: a.teacher.token, [
                "title": "遠足", "form": ["kind": "single", "question": "参加しますか", "options": ["はい", "いいえ"]],
            ]))
            let list = try id(try await client.send(.post, "\(org)/lists", json: jsonObject(["name": "バス通学", "childIds": [childA]]), token: a.teacher.token))
            let doomedList = try id(try await client.send(.post, "\(org)/lists", json: jsonObject(["name": "旧", "childIds": []]), token: a.teacher.token))
            #expect(try await client.send(.patch, org, json: jsonObject(["requiresApproval": true]), token: a.admin.token).status == .ok)
            let pending = try id(try await town.post(a, by: a.teacher.token, ["title": "承認待ち"]))
            let toReturn = try id(try await town.post(a, by: a.teacher.token, ["title": "差し戻し予定"]))
            let toCancel = try id(try await town.post(a, by: a.teacher.token, ["title": "取り消し予定"]))
            let absence = try id(try await client.send(.post, "/v1/me/children/\(childA)/absences",
                                                       json: jsonObject(["kind": "absent", "day": "2026-11-23", "reason": "体調不良"]), token: guardianA.token))
            let classA = a.classes["1-1"]!

            let staffRoutes: [Route] = [
                Route(method: .get, path: "\(org)/lists", body: nil, teacherStatus: .ok),
                Route(method: .post, path: "\(org)/lists", body: ["name": "新しい班", "childIds": [childA]], teacherStatus: .created),
                Route(method: .put, path: "\(org)/lists/\(list)", body: ["childIds": [childA]], teacherStatus: .ok),
                Route(method: .delete, path: "\(org)/lists/\(doomedList)", body: nil, teacherStatus: .noContent),
                Route(method: .post, path: "\(org)/notices", body: ["title": "新規", "body": "本文", "targets": ["all": true]], teacherStatus: .created),
                Route(method: .get, path: "\(org)/notices", body: nil, teacherStatus: .ok),
                Route(method: .get, path: "\(org)/notices/\(notice)", body: nil, teacherStatus: .ok),
                Route(method: .patch, path: "\(org)/notices/\(pending)", body: ["title": "承認待ち（修正）"], teacherStatus: .ok),
                Route(method: .post, path: "\(org)/notices/\(toCancel)/cancel", body: nil, teacherStatus: .ok),
                Route(method: .post, path: "\(org)/notices/\(pending)/approve", body: [:], teacherStatus: .forbidden),
                Route(method: .post, path: "\(org)/notices/\(toReturn)/return", body: ["comment": "再考を"], teacherStatus: .forbidden),
                Route(method: .get, path: "\(org)/notices/\(notice)/status", body: nil, teacherStatus: .ok),
                Route(method: .get, path: "\(org)/notices/\(notice)/call-list", body: nil, teacherStatus: .ok),
                Route(method: .get, path: "\(org)/notices/\(notice)/answers", body: nil, teacherStatus: .ok),
                Route(method: .get, path: "\(org)/absences", body: nil, teacherStatus: .ok),
                Route(method: .post, path: "\(org)/absences/\(absence)/acknowledge", body: nil, teacherStatus: .ok),
                Route(method: .put, path: "\(org)/classes/\(classA)/teachers/\(a.admin.id)", body: nil, teacherStatus: .forbidden, townAdminStatus: .noContent),
                Route(method: .delete, path: "\(org)/classes/\(classA)/teachers/\(a.admin.id)", body: nil, teacherStatus: .forbidden, townAdminStatus: .noContent),
            ]
            for route in staffRoutes {
                let label = "\(route.method) \(route.path)"
                let body = route.body.map(jsonObject)
                for outsider in [b.teacher.token, b.admin.token, guardianB.token, stranger.token] {
                    let response = try await client.send(route.method, route.path, json: body, token: outsider)
                    #expect(response.status == .notFound, "outsider: \(label) \(response.text)")
                }
                #expect(try await client.send(route.method, route.path, json: body).status == .unauthorized, "anonymous: \(label)")
                #expect(try await client.send(route.method, route.path, json: body, token: guardianA.token).status == .forbidden, "guardian: \(label)")
                #expect(try await client.send(route.method, route.path, json: body, token: town.townAdmin).status == route.townAdminStatus, "town admin: \(label)")
                let response = try await client.send(route.method, route.path, json: body, token: a.teacher.token)
                #expect(response.status == route.teacherStatus, "teacher: \(label) \(response.text)")
            }
            // What only admins may do, school A's admin may.
            #expect(try await client.send(.post, "\(org)/notices/\(pending)/approve", json: "{}", token: a.admin.token).status == .ok)
            #expect(try await client.send(.post, "\(org)/notices/\(toReturn)/return", json: jsonObject(["comment": "再考を"]), token: a.admin.token).status == .ok)
            // Ids of school B under school A's path are not found either.
            let noticeB = try id(try await town.post(b, by: b.teacher.token, ["title": "B の連絡"]))
            #expect(try await client.send(.get, "\(org)/notices/\(noticeB)", token: a.admin.token).status == .notFound)
            #expect(try await client.send(.get, "\(org)/notices/\(noticeB)/status", token: a.admin.token).status == .notFound)

            // The guardian's routes: only the guardians the notice reached.
            let guardianRoutes: [Route] = [
                Route(method: .get, path: "/v1/me/notices/\(notice)", body: nil, teacherStatus: .notFound),
                Route(method: .post, path: "/v1/me/notices/\(notice)/confirm", body: nil, teacherStatus: .notFound),
                Route(method: .put, path: "/v1/me/notices/\(notice)/answers/\(childA)", body: ["choices": [0]], teacherStatus: .notFound),
                Route(method: .post, path: "/v1/me/children/\(childA)/absences", body: ["kind": "late", "day": "2026-11-24", "reason": "通院"], teacherStatus: .notFound),
            ]
            for route in guardianRoutes {
                let label = "\(route.method) \(route.path)"
                let body = route.body.map(jsonObject)
                for outsider in [guardianB.token, stranger.token, a.teacher.token, b.teacher.token, town.townAdmin] {
                    #expect(try await client.send(route.method, route.path, json: body, token: outsider).status == .notFound, "outsider: \(label)")
                }
                #expect(try await client.send(route.method, route.path, json: body).status == .unauthorized, "anonymous: \(label)")
                let own = try await client.send(route.method, route.path, json: body, token: guardianA.token)
                #expect([.ok, .created].contains(own.status), "guardian: \(label) \(own.text)")
            }
            #expect(try await client.send(.get, "/v1/me/notices", token: guardianB.token).items().allSatisfy { $0["organizationId"] as? Int == b.id })

            // The live streams follow the same policy.
            let port = try #require(client.port)
            let outsider = StreamClient.open(port: port, token: b.admin.token)
            for stream in ["notice:\(notice)", "org:\(a.id)", "class:\(classA)"] {
                outsider.subscribe(stream)
                let answer = try await outsider.waitForSubscribed(stream)
                #expect(answer["type"] as? String == "error" && answer["code"] as? String == "not_found", "\(stream): \(answer)")
            }
            outsider.close()
        }
    }
}
