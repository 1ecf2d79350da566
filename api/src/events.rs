//! Events through the API: the agent's v1 `Event`s printed with kube-apiserver's event columns
//! (`LAST SEEN TYPE REASON OBJECT MESSAGE`, and `SUBOBJECT SOURCE FIRST SEEN COUNT NAME` for
//! `-o wide`), and the `involvedObject.*` fields `kubectl describe` selects them by.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};
use staticpod_core::events::{Event, EventType};

use crate::age;
use crate::resource::{NO_LABELS, Names, Resource};
use crate::table::Column;

impl Resource for Event {
    const NAMES: Names = Names {
        plural: "events",
        singular: "event",
        kind: "Event",
        short: "ev",
        namespaced: true,
        verbs: &["get", "list", "watch"],
    };
    const FIELDS: &'static [&'static str] = &[
        "metadata.name",
        "metadata.namespace",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ];

    fn columns() -> Vec<Column> {
        vec![
            Column::new("Last Seen", 0, "When the event last happened."),
            Column::new("Type", 0, "Normal or Warning."),
            Column::new("Reason", 0, "Why, in one word."),
            Column::new("Object", 0, "What it is about."),
            Column::new("Subobject", 1, "The container it is about."),
            Column::new("Source", 1, "Who reported it."),
            Column::new("Message", 0, "What happened."),
            Column::new("First Seen", 1, "When the event first happened."),
            Column::new("Count", 1, "How many times it happened."),
            Column::name(1),
        ]
    }

    fn cells(&self, now: SystemTime) -> Vec<Value> {
        let object = &self.involved_object;
        let target = if object.name.is_empty() {
            object.kind.to_lowercase()
        } else {
            format!("{}/{}", object.kind.to_lowercase(), object.name)
        };
        let source = if self.source.host.is_empty() {
            self.source.component.clone()
        } else {
            format!("{}, {}", self.source.component, self.source.host)
        };
        vec![
            json!(age::since(Some(&self.last_timestamp), now)),
            json!(self.field("type")),
            json!(self.reason),
            json!(target),
            json!(object.field_path.clone().unwrap_or_default()),
            json!(source),
            json!(self.message.trim()),
            json!(age::since(Some(&self.first_timestamp), now)),
            json!(self.count),
            json!(self.metadata.name),
        ]
    }

    fn name(&self) -> &str {
        &self.metadata.name
    }

    fn namespace(&self) -> &str {
        &self.metadata.namespace
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        &NO_LABELS
    }

    fn field(&self, field: &str) -> String {
        let object = &self.involved_object;
        match field {
            "metadata.name" => self.metadata.name.clone(),
            "metadata.namespace" => self.metadata.namespace.clone(),
            "involvedObject.kind" => object.kind.clone(),
            "involvedObject.namespace" => object.namespace.clone(),
            "involvedObject.name" => object.name.clone(),
            "involvedObject.uid" => object.uid.clone(),
            "involvedObject.apiVersion" => object.api_version.clone(),
            "involvedObject.fieldPath" => object.field_path.clone().unwrap_or_default(),
            "reason" => self.reason.clone(),
            "reportingComponent" => self.reporting_component.clone(),
            "source" => self.source.component.clone(),
            "type" => match self.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .to_string(),
            // Objects here carry no resource version in their references.
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use staticpod_core::events::{Events, ObjectReference};

    use super::*;
    use crate::negotiate::IncludeObject;
    use crate::pods::tests::at;
    use crate::selector::FieldSelector;
    use crate::table::Table;

    fn recorded() -> Vec<Event> {
        let events = Events::new("node0");
        let web = ObjectReference::pod("default", "web-node0", "d989");
        let container = web.container(false, "web");
        events.record(
            &container,
            EventType::Normal,
            "Pulled",
            "Container image \"nginx:1.25\" already present on machine",
            at(0),
        );
        events.record(
            &container,
            EventType::Normal,
            "Created",
            "Created container web",
            at(1),
        );
        events.record(
            &container,
            EventType::Normal,
            "Started",
            "Started container web",
            at(2),
        );
        for second in [30, 60, 90] {
            events.record(
                &container,
                EventType::Warning,
                "BackOff",
                "Back-off restarting failed container web",
                at(second),
            );
        }
        events.list()
    }

    #[test]
    fn events_print_as_kube_apiservers_printer() {
        let events = recorded();
        let rows: Vec<&Event> = events.iter().collect();
        let table = Table::of(&rows, None, IncludeObject::None, true, at(200));
        expect![[r#"
            LAST SEEN   TYPE      REASON    OBJECT          SUBOBJECT              SOURCE           MESSAGE                                                   FIRST SEEN   COUNT   NAME
            3m20s       Normal    Pulled    pod/web-node0   spec.containers{web}   kubelet, node0   Container image "nginx:1.25" already present on machine   3m20s        1       web-node0.18fae27693b40000
            3m19s       Normal    Created   pod/web-node0   spec.containers{web}   kubelet, node0   Created container web                                     3m19s        1       web-node0.18fae276cf4eca00
            3m18s       Normal    Started   pod/web-node0   spec.containers{web}   kubelet, node0   Started container web                                     3m18s        1       web-node0.18fae2770ae99400
            110s        Warning   BackOff   pod/web-node0   spec.containers{web}   kubelet, node0   Back-off restarting failed container web                  2m50s        3       web-node0.18fae27d8fd7ac00
        "#]]
        .assert_eq(&table.render(true));
    }

    #[test]
    fn kubectl_describes_selectors_find_the_pods_events() {
        let events = recorded();
        let selector = FieldSelector::parse(
            "involvedObject.name=web-node0,involvedObject.namespace=default,involvedObject.kind=Pod,involvedObject.uid=d989",
            Event::FIELDS,
        )
        .unwrap();
        let found = events
            .iter()
            .filter(|e| selector.matches(|f| e.field(f)))
            .count();
        assert_eq!(found, 4);
        let other = FieldSelector::parse("involvedObject.uid=other", Event::FIELDS).unwrap();
        assert!(!events.iter().any(|e| other.matches(|f| e.field(f))));
        let warnings = FieldSelector::parse("type=Warning", Event::FIELDS).unwrap();
        assert_eq!(
            events
                .iter()
                .filter(|e| warnings.matches(|f| e.field(f)))
                .count(),
            1
        );
    }
}
