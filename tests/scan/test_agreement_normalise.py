"""The Syft/Trivy comparison's normalisation: the same package in each tool's spelling agrees."""

from __future__ import annotations

from tests.scan._agreement import Difference, Pkg, differences, syft_packages, trivy_packages


def _trivy(name: str, version: str, **props: str) -> dict[str, object]:
    properties = [{"name": "aquasecurity:trivy:PkgType", "value": "debian"}]
    properties += [{"name": f"aquasecurity:trivy:{k}", "value": v} for k, v in props.items()]
    return {"type": "library", "name": name, "version": version, "properties": properties}


def test_trivy_epochs_and_source_versions_are_joined_as_dpkg_writes_them() -> None:
    document = {
        "components": [
            {"type": "operating-system", "name": "debian", "version": "12.15"},
            _trivy(
                "diffutils",
                "1:3.8-4",
                PkgEpoch="1",
                SrcEpoch="1",
                SrcName="diffutils",
                SrcVersion="3.8",
                SrcRelease="4",
            ),
            _trivy(
                "zlib1g",
                "1.2.13.dfsg-1",
                PkgEpoch="1",
                SrcName="zlib",
                SrcVersion="1.2.13.dfsg",
                SrcRelease="1",
                SrcEpoch="1",
            ),
            _trivy("bash", "5.2.15-2+b13", SrcName="bash", SrcVersion="5.2.15", SrcRelease="2"),
        ]
    }
    assert trivy_packages(document) == [
        Pkg("deb", "diffutils", "1:3.8-4", "diffutils", "1:3.8-4"),
        Pkg("deb", "zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1"),
        Pkg("deb", "bash", "5.2.15-2+b13", "bash", "5.2.15-2"),
    ]


def test_syft_empty_source_means_the_package_itself() -> None:
    document = {
        "artifacts": [
            {
                "type": "deb",
                "name": "bash",
                "version": "5.2.15-2+b13",
                "metadata": {"source": "", "sourceVersion": "5.2.15-2"},
            },
            {"type": "deb", "name": "apt", "version": "2.6.1", "metadata": {"source": ""}},
            {"type": "python", "name": "pyyaml", "version": "5.1", "metadata": {}},
        ]
    }
    assert syft_packages(document) == [
        Pkg("deb", "bash", "5.2.15-2+b13", "bash", "5.2.15-2"),
        Pkg("deb", "apt", "2.6.1", "apt", "2.6.1"),
        Pkg("python", "pyyaml", "5.1"),
    ]


def test_differences_key_python_by_pep503_name() -> None:
    ours = [Pkg("python", "PyYAML", "5.1"), Pkg("go", "stdlib", "v1.19.8")]
    theirs = [Pkg("python", "pyyaml", "5.1"), Pkg("npm", "d3-pprof", "2.0.0")]
    assert differences(ours, theirs) == [
        Difference("stdlib", "go", "presence", "present", "absent"),
        Difference("d3-pprof", "npm", "presence", "absent", "present"),
        Difference("pyyaml", "python", "name", "PyYAML", "pyyaml"),
    ]
