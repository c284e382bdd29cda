import Foundation
import Hummingbird
import TollgateCore

/// `/v1/company/users*` (SPEC §13): owners and admins see the company's people and their kinds
/// of method, and reset a user's methods (a lost phone or passkey) with their own password.
struct TeamRoutes {
    let methods: MethodService
    let clientAddress: ClientAddress

    func register(on group: RouterGroup<DashboardContext>) {
        let (methods, addresses) = (self.methods, self.clientAddress)
        group.get("company/users") { _, context -> Answer in
            Answer(.ok, TeamEnvelope(users: try await methods.team(context.principal).map(TeamMemberView.init)))
        }
        group.post("company/users/:id/reset-methods") { request, context -> Answer in
            guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw DomainError.notFoundObject }
            let body = try await JSONBody.read(PasswordConfirmation.self, request)
            let info = addresses.clientInfo(for: request, context: context.parent)
            let member = try await methods.resetMethods(context.principal, userID: id, password: body.password?.text, clientInfo: info)
            return Answer(.ok, TeamMemberEnvelope(user: TeamMemberView(member)))
        }
    }
}

/// A person of the company with the kinds of method they can sign in with.
struct TeamMemberView: Encodable, Sendable {
    let id: ObjectID
    let email: String
    let name: String
    let role: String
    let dashboardAccess: Bool
    let methods: [String]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case id, email, name, role, methods
        case dashboardAccess = "dashboard_access"
    }

    init(_ member: TeamMember) {
        id = ObjectID(member.id)
        email = member.email
        name = member.name
        role = member.role.rawValue
        dashboardAccess = member.dashboardAccess
        methods = member.methods.map(\.rawValue)
    }
}

struct TeamEnvelope: Encodable, Sendable {
    let users: [TeamMemberView]
}

struct TeamMemberEnvelope: Encodable, Sendable {
    let user: TeamMemberView
}
