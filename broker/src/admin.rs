//! `floe topics`, `floe groups`, `floe configs`: a small admin client speaking the Kafka
//! protocol (kafka-protocol's generated messages), so it works against Floe or any
//! Kafka broker. Each command returns the text to print.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};

/// Topic commands.
#[derive(Debug, clap::Subcommand)]
pub enum TopicsCommand {
    /// List topics.
    List,
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Partitions.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Settings, as name=value (e.g. retention.ms=86400000).
        #[arg(long = "config", value_name = "NAME=VALUE")]
        configs: Vec<String>,
    },
    /// Delete a topic.
    Delete {
        /// Topic name.
        name: String,
    },
    /// Partitions and their offsets.
    Describe {
        /// Topic name.
        name: String,
    },
}

/// Consumer group commands.
#[derive(Debug, clap::Subcommand)]
pub enum GroupsCommand {
    /// List groups.
    List,
    /// State, members and committed offsets of a group.
    Describe {
        /// Group id.
        group: String,
    },
    /// Delete an empty group and its offsets.
    Delete {
        /// Group id.
        group: String,
    },
}

/// Topic config commands.
#[derive(Debug, clap::Subcommand)]
pub enum ConfigsCommand {
    /// A topic's settings, set or default.
    Describe {
        /// Topic name.
        topic: String,
    },
    /// Set settings, as name=value.
    Set {
        /// Topic name.
        topic: String,
        /// name=value pairs.
        #[arg(required = true, value_name = "NAME=VALUE")]
        settings: Vec<String>,
    },
    /// Remove settings (back to their defaults).
    Delete {
        /// Topic name.
        topic: String,
        /// Setting names.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

/// One connection to a broker.
#[derive(Debug)]
struct Client {
    socket: TcpStream,
    correlation: i32,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn check(code: i16, what: &str) -> Result<()> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(e) => Err(Error::Protocol(format!("{what}: {e:?} ({code})"))),
    }
}

fn pairs(items: &[String]) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Config(format!("{kv}: expected name=value")))
        })
        .collect()
}

impl Client {
    async fn connect(bootstrap: &str) -> Result<Client> {
        Ok(Client { socket: TcpStream::connect(bootstrap).await?, correlation: 0 })
    }

    async fn call<Req, Resp>(&mut self, api: ApiKey, version: i16, request: &Req) -> Result<Resp>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        self.correlation += 1;
        let protocol = |e: anyhow::Error| Error::Protocol(format!("{api:?} v{version}: {e:#}"));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(s("floe-admin")))
            .encode(&mut buf, Req::header_version(version))
            .map_err(protocol)?;
        request.encode(&mut buf, version).map_err(protocol)?;
        let len = (buf.len() - 4) as i32;
        buf[0..4].copy_from_slice(&len.to_be_bytes());
        self.socket.write_all(&buf).await?;
        let len = self.socket.read_i32().await?;
        let mut body = vec![0u8; usize::try_from(len).map_err(|_| Error::Protocol("negative frame".into()))?];
        self.socket.read_exact(&mut body).await?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, Resp::header_version(version)).map_err(protocol)?;
        if header.correlation_id != self.correlation {
            return Err(Error::Protocol("response out of order".into()));
        }
        let response = Resp::decode(&mut body, version).map_err(protocol)?;
        if body.has_remaining() {
            return Err(Error::Protocol(format!("{api:?}: {} bytes left over", body.remaining())));
        }
        Ok(response)
    }

    async fn metadata(&mut self, topics: Option<Vec<String>>) -> Result<MetadataResponse> {
        let request = MetadataRequest::default().with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| metadata_request::MetadataRequestTopic::default().with_name(Some(TopicName(s(n)))))
                .collect()
        }));
        self.call(ApiKey::Metadata, 9, &request).await
    }

    async fn list_offsets(&mut self, topic: &str, partitions: i32, timestamp: i64) -> Result<Vec<i64>> {
        let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default().with_name(TopicName(s(topic))).with_partitions(
                (0..partitions)
                    .map(|p| {
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            ),
        ]);
        let response: ListOffsetsResponse = self.call(ApiKey::ListOffsets, 5, &request).await?;
        let mut out = vec![-1; partitions.max(0) as usize];
        for t in response.topics {
            for p in t.partitions {
                check(p.error_code, "list offsets")?;
                if let Some(slot) = usize::try_from(p.partition_index).ok().and_then(|i| out.get_mut(i)) {
                    *slot = p.offset;
                }
            }
        }
        Ok(out)
    }

    async fn describe_configs(&mut self, topic: &str) -> Result<Vec<(String, String, bool)>> {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(topic))
                .with_configuration_keys(None),
        ]);
        let response: DescribeConfigsResponse = self.call(ApiKey::DescribeConfigs, 4, &request).await?;
        let mut out = Vec::new();
        for r in response.results {
            check(r.error_code, "describe configs")?;
            for c in r.configs {
                let value = c.value.map(|v| v.to_string()).unwrap_or_default();
                out.push((c.name.to_string(), value, c.config_source == 1));
            }
        }
        Ok(out)
    }

    async fn alter_configs(&mut self, topic: &str, ops: Vec<(String, i8, Option<String>)>) -> Result<()> {
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s(topic))
                .with_configs(
                    ops.into_iter()
                        .map(|(name, op, value)| {
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(s(&name))
                                .with_config_operation(op)
                                .with_value(value.as_deref().map(s))
                        })
                        .collect(),
                ),
        ]);
        let response: IncrementalAlterConfigsResponse =
            self.call(ApiKey::IncrementalAlterConfigs, 1, &request).await?;
        for r in response.responses {
            check(
                r.error_code,
                &format!("alter configs: {}", r.error_message.map(|m| m.to_string()).unwrap_or_default()),
            )?;
        }
        Ok(())
    }
}

/// Runs a topics command against `bootstrap`.
pub async fn topics(bootstrap: &str, command: TopicsCommand) -> Result<String> {
    let mut client = Client::connect(bootstrap).await?;
    match command {
        TopicsCommand::List => {
            let meta = client.metadata(None).await?;
            let mut names: Vec<String> =
                meta.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.to_string())).collect();
            names.sort();
            Ok(names.into_iter().map(|n| n + "\n").collect())
        }
        TopicsCommand::Create { name, partitions, configs } => {
            let request = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(TopicName(s(&name)))
                    .with_num_partitions(partitions)
                    .with_replication_factor(-1)
                    .with_configs(
                        pairs(&configs)?
                            .into_iter()
                            .map(|(k, v)| {
                                create_topics_request::CreatableTopicConfig::default()
                                    .with_name(s(&k))
                                    .with_value(Some(s(&v)))
                            })
                            .collect(),
                    ),
            ]);
            let response: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 5, &request).await?;
            for t in response.topics {
                let why = t.error_message.map(|m| m.to_string()).unwrap_or_default();
                check(t.error_code, &format!("create {name}: {why}"))?;
            }
            Ok(format!("created {name} ({partitions} partitions)\n"))
        }
        TopicsCommand::Delete { name } => {
            let request = DeleteTopicsRequest::default()
                .with_timeout_ms(30_000)
                .with_topic_names(vec![TopicName(s(&name))]);
            let response: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, 4, &request).await?;
            for r in response.responses {
                check(r.error_code, &format!("delete {name}"))?;
            }
            Ok(format!("deleted {name}\n"))
        }
        TopicsCommand::Describe { name } => {
            let meta = client.metadata(Some(vec![name.clone()])).await?;
            let topic = meta.topics.first().ok_or_else(|| Error::Protocol("empty metadata".into()))?;
            check(topic.error_code, &format!("describe {name}"))?;
            let partitions = topic.partitions.len() as i32;
            let low = client.list_offsets(&name, partitions, -2).await?;
            let high = client.list_offsets(&name, partitions, -1).await?;
            let mut out = format!("topic {name}: {partitions} partitions\npartition  leader  low  high\n");
            for p in &topic.partitions {
                let i = p.partition_index as usize;
                out += &format!(
                    "{:>9}  {:>6}  {}  {}\n",
                    p.partition_index,
                    p.leader_id.0,
                    low.get(i).copied().unwrap_or(-1),
                    high.get(i).copied().unwrap_or(-1)
                );
            }
            for (k, v, set) in client.describe_configs(&name).await? {
                if set {
                    out += &format!("config {k}={v}\n");
                }
            }
            Ok(out)
        }
    }
}

/// Runs a groups command against `bootstrap`.
pub async fn groups(bootstrap: &str, command: GroupsCommand) -> Result<String> {
    let mut client = Client::connect(bootstrap).await?;
    match command {
        GroupsCommand::List => {
            let response: ListGroupsResponse =
                client.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default()).await?;
            check(response.error_code, "list groups")?;
            Ok(response
                .groups
                .iter()
                .map(|g| format!("{}  {}\n", g.group_id.as_str(), g.group_state.as_str()))
                .collect())
        }
        GroupsCommand::Describe { group } => {
            let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]);
            let response: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &request).await?;
            let mut out = String::new();
            for g in &response.groups {
                check(g.error_code, &format!("describe {group}"))?;
                out += &format!(
                    "group {} state {} members {}\n",
                    g.group_id.as_str(),
                    g.group_state.as_str(),
                    g.members.len()
                );
                for m in &g.members {
                    out += &format!(
                        "member {} client {} host {}\n",
                        m.member_id.as_str(),
                        m.client_id.as_str(),
                        m.client_host.as_str()
                    );
                }
            }
            let request = OffsetFetchRequest::default().with_group_id(GroupId(s(&group))).with_topics(None);
            let offsets: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 7, &request).await?;
            check(offsets.error_code, "offsets")?;
            let mut by_topic: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
            for t in offsets.topics {
                for p in t.partitions {
                    by_topic
                        .entry(t.name.to_string())
                        .or_default()
                        .push((p.partition_index, p.committed_offset));
                }
            }
            if !by_topic.is_empty() {
                out += "topic  partition  committed  end  lag\n";
            }
            for (topic, parts) in by_topic {
                let count = parts.iter().map(|(p, _)| p + 1).max().unwrap_or(0);
                let ends = client.list_offsets(&topic, count, -1).await?;
                for (p, committed) in parts {
                    let end = ends.get(p as usize).copied().unwrap_or(-1);
                    out += &format!("{topic}  {p}  {committed}  {end}  {}\n", (end - committed).max(0));
                }
            }
            Ok(out)
        }
        GroupsCommand::Delete { group } => {
            let request = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(&group))]);
            let response: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, 2, &request).await?;
            for r in response.results {
                check(r.error_code, &format!("delete {group}"))?;
            }
            Ok(format!("deleted group {group}\n"))
        }
    }
}

/// Runs a configs command against `bootstrap`.
pub async fn configs(bootstrap: &str, command: ConfigsCommand) -> Result<String> {
    let mut client = Client::connect(bootstrap).await?;
    match command {
        ConfigsCommand::Describe { topic } => Ok(client
            .describe_configs(&topic)
            .await?
            .into_iter()
            .map(|(k, v, set)| format!("{k}={v}{}\n", if set { "" } else { "  (default)" }))
            .collect()),
        ConfigsCommand::Set { topic, settings } => {
            let ops = pairs(&settings)?.into_iter().map(|(k, v)| (k, 0, Some(v))).collect();
            client.alter_configs(&topic, ops).await?;
            Ok(format!("updated {topic}\n"))
        }
        ConfigsCommand::Delete { topic, names } => {
            client.alter_configs(&topic, names.into_iter().map(|n| (n, 1, None)).collect()).await?;
            Ok(format!("updated {topic}\n"))
        }
    }
}
