//! Controls against libiec61850 1.6 (PyPI pyiec61850-ng) for all four control models, including
//! a refused operate (LastApplError with AddCause) and a failed execution (CommandTermination-).

mod common;

use common::peer::{Iec61850Server, LD};
use gridtrust_mms::control::{ControlError, ControlModel, ControlObject, ControlParameters};
use gridtrust_mms::data::{Data, ObjectName};
use gridtrust_mms::{ClientConfig, MmsClient};

fn spcso(n: u8) -> ControlObject {
    ControlObject { logical_device: LD.into(), logical_node: "GGIO1".into(), data_object: format!("SPCSO{n}") }
}

async fn st_val(client: &MmsClient, n: u8) -> Data {
    client.read_value(&ObjectName::domain(LD, format!("GGIO1$ST$SPCSO{n}$stVal"))).await.unwrap()
}

#[tokio::test]
async fn all_four_control_models_operate_and_change_the_status() {
    let Some(server) = Iec61850Server::start("all_four_control_models_operate_and_change_the_status") else { return };
    let client = MmsClient::connect(server.addr, ClientConfig::default()).await.unwrap();
    let params = ControlParameters::default();
    let expected = [
        (1, ControlModel::DirectNormal, false),
        (2, ControlModel::SboNormal, false),
        (3, ControlModel::DirectEnhanced, true),
        (4, ControlModel::SboEnhanced, true),
    ];
    for (n, model, terminated) in expected {
        assert_eq!(st_val(&client, n).await, Data::Boolean(false));
        let outcome = client.operate(&spcso(n), Data::Boolean(true), &params).await.unwrap_or_else(|e| panic!("SPCSO{n}: {e}"));
        assert_eq!((outcome.model, outcome.terminated), (model, terminated), "SPCSO{n}");
        assert_eq!(st_val(&client, n).await, Data::Boolean(true), "SPCSO{n} operated");
    }
    client.release().await.unwrap();
}

#[tokio::test]
async fn refused_operate_reports_last_appl_error_with_add_cause() {
    let Some(server) = Iec61850Server::start("refused_operate_reports_last_appl_error_with_add_cause") else { return };
    let client = MmsClient::connect(server.addr, ClientConfig::default()).await.unwrap();
    // The server's check handler blocks ctlVal=false on SPCSO3 (direct, enhanced) by interlocking.
    let error = client.operate(&spcso(3), Data::Boolean(false), &ControlParameters::default()).await.unwrap_err();
    let ControlError::OperateRefused { last_appl_error: Some(lae), .. } = error else { panic!("{error:?}") };
    assert_eq!(lae.add_cause, 10, "blocked-by-interlocking");
    assert_eq!(lae.control_object, format!("{LD}/GGIO1$CO$SPCSO3$Oper"));
    client.release().await.unwrap();
}

#[tokio::test]
async fn failed_execution_ends_with_negative_command_termination() {
    let Some(server) = Iec61850Server::start("failed_execution_ends_with_negative_command_termination") else { return };
    let client = MmsClient::connect(server.addr, ClientConfig::default()).await.unwrap();
    // SPCSO8 is SBO with enhanced security; the server's operate handler always fails it.
    let error = client.operate(&spcso(8), Data::Boolean(true), &ControlParameters::default()).await.unwrap_err();
    let ControlError::TerminatedWithError(lae) = error else { panic!("{error:?}") };
    assert_eq!(lae.add_cause, 9, "blocked-by-process");
    assert_eq!(st_val(&client, 8).await, Data::Boolean(false));
    client.release().await.unwrap();
}
