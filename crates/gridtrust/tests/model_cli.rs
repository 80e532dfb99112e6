//! `gridtrust model import|validate|show|diff` run as a process on the real test data and the
//! gridmodel fixture (an SCD placing logical nodes on ENTSO-E MicroGrid NL equipment).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shared(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata").join(relative)
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gridmodel/testdata").join(name)
}

fn microgrid_nl() -> Vec<PathBuf> {
    let base = "cgmes/MicroGrid/BaseCase";
    vec![
        shared(&format!("{base}/CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2")),
        shared(&format!("{base}/CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2")),
        fixture("microgrid_nl_measurements_EQ.xml"),
    ]
}

fn gridtrust(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridtrust")).args(args).env("RUST_LOG", "warn").output().expect("run gridtrust")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn model_args<'a>(scl: &'a [String], cgmes: &'a [String], mapping: Option<&'a str>) -> Vec<&'a str> {
    let mut args = Vec::new();
    if !scl.is_empty() {
        args.push("--scl");
        args.extend(scl.iter().map(String::as_str));
    }
    if !cgmes.is_empty() {
        args.push("--cgmes");
        args.extend(cgmes.iter().map(String::as_str));
    }
    if let Some(mapping) = mapping {
        args.extend(["--mapping", mapping]);
    }
    args
}

fn paths(list: &[PathBuf]) -> Vec<String> {
    list.iter().map(|p| p.display().to_string()).collect()
}

fn import_to(out: &Path, mapping: bool) -> Output {
    let scl = paths(&[fixture("microgrid_nl.scd")]);
    let cgmes = paths(&microgrid_nl());
    let mapping_file = fixture("microgrid_nl_mapping.toml").display().to_string();
    let out = out.display().to_string();
    let mut args = vec!["model", "import"];
    args.extend(model_args(&scl, &cgmes, mapping.then_some(mapping_file.as_str())));
    args.extend(["-o", out.as_str()]);
    gridtrust(&args)
}

#[test]
fn import_writes_the_joined_model_and_show_finds_points_and_equipment() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    let output = import_to(&model, true);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("reading ") && stderr.contains("MicroGridTestConfiguration_BC_NL_EQ_V2.xml"),
        "progress per CGMES file: {stderr}"
    );
    assert!(stderr.contains("28 points (2 linked by mapping file, 12 by SCD LNode, 4 by name; 7 with a CIM measurement)"), "{stderr}");
    assert!(stderr.contains("CGMES edition: CGMES 2.4.15\n"), "the edition read is shown: {stderr}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(json["points"]["AMS_P1MEAS/MMXU1.TotW.mag.f[MX]"]["cim"]["measurement"], "gt-m-load3-p");

    let m = model.display().to_string();
    let shown = gridtrust(&["model", "show", &m, "--point", "AMS_P1MEAS/MMXU2.TotW.mag.f[MX]"]);
    assert!(shown.status.success());
    let point: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(point["cim"]["terminal"], "e3e0c496-5837-4f0f-a596-cc421940f73f");
    assert_eq!(point["link"], "mapping-file");

    let shown = gridtrust(&["model", "show", &m, "--equipment", "_5f5d40ae-d52d-4631-9285-b3ceefff784c"]);
    let breaker: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!((breaker["name"].as_str(), breaker["kind"].as_str()), (Some("B1"), Some("Breaker")));

    let tree = text(&gridtrust(&["model", "show", &m, "--tree"]).stdout);
    assert!(tree.contains("PP_Amsterdam\n"), "{tree}");
    assert!(tree.contains("B1 [Breaker] mRID 5f5d40ae-d52d-4631-9285-b3ceefff784c\n"), "{tree}");
    assert!(tree.contains("~ Discrete SwitchPosition mRID gt-m-b1-pos\n"), "{tree}");
    assert!(tree.contains("* AMS_P1CTRL/XCBR1.Pos.stVal[ST]\n"), "{tree}");

    let missing = gridtrust(&["model", "show", &m, "--point", "NO/SUCH.point"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no point `NO/SUCH.point` in the model"));
}

#[test]
fn validate_lists_unresolved_links_and_fails_on_errors_with_their_place() {
    let scl = paths(&[fixture("microgrid_nl.scd")]);
    let cgmes = paths(&microgrid_nl());
    let mut args = vec!["model", "validate"];
    args.extend(model_args(&scl, &cgmes, None));
    let output = gridtrust(&args);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "unresolved links alone are not errors: {stdout}");
    assert!(
        stdout.contains(
            "unresolved: LNode AMS_P1 MEAS/MMXU3 at PP_Amsterdam/220.0/Line_9/NL-Line_9: no equipment in the CGMES model named `NL-Line_9`"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("unresolved: AMS_P1MEAS/MMXU2.TotW: equipment `NL-TR2_1` has 2 CIM measurements"), "{stdout}");
    args.push("--strict");
    assert_eq!(gridtrust(&args).status.code(), Some(1), "--strict fails on unresolved links");

    let broken = paths(&[shared("scl/sampleModel_errors.icd")]);
    let mut args = vec!["model", "validate"];
    args.extend(model_args(&broken, &[], None));
    let output = gridtrust(&args);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let first = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{stderr}"));
    // `error: <path>:<line>:<column>: <Element>: problem`
    let place = first.split("sampleModel_errors.icd:").nth(1).unwrap_or_else(|| panic!("{first}"));
    let mut parts = place.splitn(3, ':');
    assert!(parts.next().unwrap().parse::<u32>().is_ok() && parts.next().unwrap().parse::<u32>().is_ok(), "{first}");
    assert!(parts.next().unwrap().trim_start().starts_with('<'), "{first}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[points.\"AMS_P1MEAS/MMXU1.TotW\"]\nmeasurement = \"nope\"\n").unwrap();
    let bad = bad.display().to_string();
    let mut args = vec!["model", "validate"];
    args.extend(model_args(&scl, &cgmes, Some(&bad)));
    let output = gridtrust(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("bad.toml: points.\"AMS_P1MEAS/MMXU1.TotW\".measurement: `nope` is not an Analog"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn scl_deviations_are_warnings_and_errors_with_strict() {
    // sg_demo.cid defines two DOTypes twice, identically, and has an unused broken DOType.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sg.json").display().to_string();
    let scl = paths(&[shared("scl/sg_demo.cid")]);
    let mut args = vec!["model", "import"];
    args.extend(model_args(&scl, &[], None));
    args.extend(["-o", out.as_str()]);
    let output = gridtrust(&args);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("sg_demo.cid:220:3: <DOType>: DOType `SPS` is defined again here, identical to its first definition at line 128; the first is used"), "{stderr}");

    args.push("--strict");
    let output = gridtrust(&args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error: ") && l.ends_with("(refused in strict mode)")).count(), 3, "{stderr}");

    let mut args = vec!["model", "validate"];
    args.extend(model_args(&scl, &[], None));
    assert!(gridtrust(&args).status.success());
    args.push("--strict");
    let output = gridtrust(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("DOType `ENS_Health` is defined again here"), "{}", text(&output.stderr));
}

#[test]
fn scl_only_and_cgmes_only_imports_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scl.json").display().to_string();
    let scl = paths(&[shared("scl/simpleIO_direct_control_goose.scd")]);
    let mut args = vec!["model", "import"];
    args.extend(model_args(&scl, &[], None));
    args.extend(["-o", out.as_str()]);
    let output = gridtrust(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let shown = text(&gridtrust(&["model", "show", &out]).stdout);
    assert!(shown.contains("source scl ") && shown.contains("0 equipment"), "{shown}");

    let out = dir.path().join("cim.json").display().to_string();
    let cgmes = paths(&[shared("cgmes/MiniGrid/BusBranch/CGMES_v2.4.15_MiniGridTestConfiguration_BaseCase_v3")]);
    let mut args = vec!["model", "import"];
    args.extend(model_args(&[], &cgmes, None));
    args.extend(["-o", out.as_str()]);
    let output = gridtrust(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let tree = text(&gridtrust(&["model", "show", &out, "--tree"]).stdout);
    for substation in ["Sub1\n", "Sub5\n"] {
        assert!(tree.contains(substation), "{tree}");
    }
}

#[test]
fn diff_exits_1_when_models_differ_and_0_when_equal() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    assert!(import_to(&a, false).status.success());
    assert!(import_to(&b, true).status.success());
    let (a, b) = (a.display().to_string(), b.display().to_string());

    let same = gridtrust(&["model", "diff", &a, &a]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(text(&same.stdout), "no differences\n");

    let differ = gridtrust(&["model", "diff", &a, &b]);
    assert_eq!(differ.status.code(), Some(1));
    let stdout = text(&differ.stdout);
    assert!(stdout.contains("~ point AMS_P1MEAS/MMXU2.TotW.mag.f[MX]\n"), "{stdout}");
    assert!(stdout.contains("    link: \"scd-lnode\" -> \"mapping-file\"\n"), "{stdout}");
    assert!(stdout.contains("- unresolved AMS_P1MEAS/MMXU2.TotW: "), "{stdout}");

    let missing = gridtrust(&["model", "diff", &a, "/nonexistent/model.json"]);
    assert_eq!(missing.status.code(), Some(2));
}
