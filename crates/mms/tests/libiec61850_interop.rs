//! Interop with libiec61850 1.6 (PyPI pyiec61850-ng) as the server: association, identify,
//! browse, read, write, data sets, reports and controls, over TCP on 127.0.0.1.

mod common;

use common::peer::{Iec61850Server, LD};
use gridtrust_mms::data::{Data, ObjectName, TypeSpec};
use gridtrust_mms::services::mms_name;
use gridtrust_mms::{ClientConfig, MmsClient};

async fn connect(server: &Iec61850Server) -> MmsClient {
    MmsClient::connect(server.addr, ClientConfig::default()).await.expect("associate with libiec61850")
}

#[tokio::test]
async fn associates_identifies_browses_and_releases() {
    let Some(server) = Iec61850Server::start("associates_identifies_browses_and_releases") else { return };
    let client = connect(&server).await;
    assert!(client.server_parameters().max_serv_outstanding_calling >= 1);
    let identity = client.identify().await.unwrap();
    assert!(identity.vendor.contains("libiec61850"), "{identity:?}");
    assert_eq!(client.logical_devices().await.unwrap(), vec![LD.to_string()]);
    let lns = client.logical_nodes(LD).await.unwrap();
    assert_eq!(lns, vec!["GGIO1", "LLN0", "LPHD1"]);
    let objects = client.data_objects(LD, "GGIO1").await.unwrap();
    for expected in [("MX", "AnIn1"), ("ST", "SPCSO1"), ("CO", "SPCSO4"), ("CF", "SPCSO2"), ("ST", "Ind4")] {
        assert!(objects.contains(&(expected.0.to_string(), expected.1.to_string())), "{expected:?} not in {objects:?}");
    }
    let mut data_sets = client.data_sets(LD).await.unwrap();
    data_sets.sort();
    assert_eq!(data_sets, vec!["LLN0$Events", "LLN0$Events2", "LLN0$Measurements"]);
    let ty = client.variable_type(&mms_name(&format!("{LD}/GGIO1.AnIn1"), "MX").unwrap()).await.unwrap();
    let names: Vec<&str> = ty.components().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["mag", "q", "t"]);
    assert_eq!(ty.components()[0].1.components()[0], ("f".to_string(), TypeSpec::Float { format_width: 32, exponent_width: 8 }));
    assert_eq!(ty.components()[1].1, TypeSpec::BitString(-13));
    assert_eq!(ty.components()[2].1, TypeSpec::UtcTime);
    client.release().await.unwrap();
}

#[tokio::test]
async fn reads_values_the_server_sets_and_writes_are_checked() {
    let Some(mut server) = Iec61850Server::start("reads_values_the_server_sets_and_writes_are_checked") else { return };
    server.command(&format!("float {LD}/GGIO1.AnIn1.mag.f 12.5"));
    let client = connect(&server).await;
    let mag = mms_name(&format!("{LD}/GGIO1.AnIn1.mag.f"), "MX").unwrap();
    assert_eq!(client.read_value(&mag).await.unwrap(), Data::Float32(12.5));
    let st = mms_name(&format!("{LD}/GGIO1.SPCSO1.stVal"), "ST").unwrap();
    assert_eq!(client.read_value(&st).await.unwrap(), Data::Boolean(false));
    // Whole data object: stVal, q, t.
    let whole = client.read_value(&mms_name(&format!("{LD}/GGIO1.AnIn1"), "MX").unwrap()).await.unwrap();
    let members = whole.members().unwrap();
    assert_eq!(members[0], Data::Structure(vec![Data::Float32(12.5)]));
    // libiec61850 does not stamp t on a plain value update, so only the type is checked here.
    assert!(matches!(members[2], Data::UtcTime(_)));
    // A status value is not writable; a missing one does not exist.
    let refused = client.write_value(&st, Data::Boolean(true)).await.unwrap_err();
    assert!(matches!(refused, gridtrust_mms::services::ServiceFailure::Access { .. }), "{refused:?}");
    let missing = client.read_value(&ObjectName::domain(LD, "GGIO1$MX$AnIn9")).await.unwrap_err();
    assert!(matches!(missing, gridtrust_mms::services::ServiceFailure::Access { .. }), "{missing:?}");
    // A configuration value is writable and reads back.
    let intg = ObjectName::domain(LD, "LLN0$RP$EventsRCB01$IntgPd");
    client.write_value(&intg, Data::Unsigned(2500)).await.unwrap();
    assert_eq!(client.read_value(&intg).await.unwrap(), Data::Unsigned(2500));
    client.release().await.unwrap();
}

#[tokio::test]
async fn data_sets_list_members_read_and_can_be_created() {
    let Some(mut server) = Iec61850Server::start("data_sets_list_members_read_and_can_be_created") else { return };
    server.command(&format!("float {LD}/GGIO1.AnIn2.mag.f -3.25"));
    let client = connect(&server).await;
    let measurements = ObjectName::domain(LD, "LLN0$Measurements");
    let members = client.data_set_members(&measurements).await.unwrap();
    assert_eq!(members.len(), 8);
    assert_eq!(members[2], ObjectName::domain(LD, "GGIO1$MX$AnIn2$mag$f"));
    let values = client.read_data_set(&measurements).await.unwrap();
    assert_eq!(values[2], Ok(Data::Float32(-3.25)));
    assert!(matches!(&values[3], Ok(Data::BitString(q)) if q.len() == 13));
    let mine = ObjectName::Association("@mine".into());
    client.create_data_set(&mine, &[members[2].clone(), ObjectName::domain(LD, "GGIO1$ST$SPCSO1$stVal")]).await.unwrap();
    assert_eq!(client.read_data_set(&mine).await.unwrap(), vec![Ok(Data::Float32(-3.25)), Ok(Data::Boolean(false))]);
    assert!(client.delete_data_set(&mine).await.unwrap());
    client.release().await.unwrap();
}
