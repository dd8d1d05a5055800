//! DeleteGroups: removes an empty group and its committed offsets.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse};
use kafka_protocol::protocol::VersionRange;

use crate::Broker;
use crate::error::kafka_error;

pub(crate) const KEY: ApiKey = ApiKey::DeleteGroups;
pub(crate) const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

pub(crate) async fn handle(broker: &Broker, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let has_members = broker.groups.groups().get(id.as_str()).is_some_and(|g| !g.members.is_empty());
        let code = if has_members {
            ResponseError::NonEmptyGroup.code()
        } else if !broker.groups.has_offsets(&id) && !broker.groups.groups().contains_key(id.as_str()) {
            ResponseError::GroupIdNotFound.code()
        } else {
            broker.groups.groups().remove(id.as_str());
            match broker.groups.commit(&id, Vec::new(), true).await {
                Ok(()) => 0,
                Err(e) => kafka_error(&e).code(),
            }
        };
        results.push(DeletableGroupResult::default().with_group_id(id).with_error_code(code));
    }
    DeleteGroupsResponse::default().with_results(results)
}
