//! Distinguished names as text (`CN=etcd-ca,O=meshbundle`), the way
//! x509-cert writes them (RFC 4514: the last RDN first, `\`-escapes), with
//! the short names of the attribute types certificates use: those of X.520
//! (`2.5.4`), RFC 4519 (`0.9.2342.19200300.100.1`), PKCS #9
//! (`1.2.840.113549.1.9`) and the EV jurisdiction fields, as x509-cert's
//! table of every OID it knows names them. x509-cert's own `Display` links
//! that whole table (a few thousand OIDs) into the browser's module; this
//! writes the same text for these types, and any other as its dotted OID
//! and DER value in hex (as x509-cert writes an attribute it cannot name).
//! x509-cert has no feature that leaves the table out (it needs const-oid's
//! `db`); with its `Display`, the module is 90 KB larger and what the
//! configurator's page loads 14 KB larger gzipped, over its 700 KB budget
//! (`bench/web.mjs`).

use std::fmt::Write as _;

use der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use der::{Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::Name;

/// The BER arcs of each attribute type named here, and its short name
/// (x509-cert's: the shortest of its names, in capitals).
const SHORT_NAMES: &[(&[u8], &str)] = &[
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x01", "UID"), // 0.9.2342.19200300.100.1.1
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x02", "TEXTENCODEDORADDRESS"), // 0.9.2342.19200300.100.1.2
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x03", "MAIL"), // 0.9.2342.19200300.100.1.3
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x04", "INFO"), // 0.9.2342.19200300.100.1.4
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x05", "DRINK"), // 0.9.2342.19200300.100.1.5
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x06", "ROOMNUMBER"), // 0.9.2342.19200300.100.1.6
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x07", "PHOTO"), // 0.9.2342.19200300.100.1.7
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x08", "USERCLASS"), // 0.9.2342.19200300.100.1.8
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x09", "HOST"), // 0.9.2342.19200300.100.1.9
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x0a", "MANAGER"), // 0.9.2342.19200300.100.1.10
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x0b", "DOCUMENTIDENTIFIER"), // 0.9.2342.19200300.100.1.11
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x0c", "DOCUMENTTITLE"), // 0.9.2342.19200300.100.1.12
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x0d", "DOCUMENTVERSION"), // 0.9.2342.19200300.100.1.13
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x0e", "DOCUMENTAUTHOR"), // 0.9.2342.19200300.100.1.14
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x0f", "DOCUMENTLOCATION"), // 0.9.2342.19200300.100.1.15
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x14", "HOMEPHONE"), // 0.9.2342.19200300.100.1.20
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x15", "SECRETARY"), // 0.9.2342.19200300.100.1.21
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x16", "OTHERMAILBOX"), // 0.9.2342.19200300.100.1.22
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x17", "LASTMODIFIEDTIME"), // 0.9.2342.19200300.100.1.23
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x18", "LASTMODIFIEDBY"), // 0.9.2342.19200300.100.1.24
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x19", "DC"),  // 0.9.2342.19200300.100.1.25
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x1a", "ARECORD"), // 0.9.2342.19200300.100.1.26
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x1b", "MDRECORD"), // 0.9.2342.19200300.100.1.27
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x1c", "MXRECORD"), // 0.9.2342.19200300.100.1.28
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x1d", "NSRECORD"), // 0.9.2342.19200300.100.1.29
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x1e", "SOARECORD"), // 0.9.2342.19200300.100.1.30
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x1f", "CNAMERECORD"), // 0.9.2342.19200300.100.1.31
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x25", "ASSOCIATEDDOMAIN"), // 0.9.2342.19200300.100.1.37
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x26", "ASSOCIATEDNAME"), // 0.9.2342.19200300.100.1.38
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x27", "HOMEPOSTALADDRESS"), // 0.9.2342.19200300.100.1.39
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x28", "PERSONALTITLE"), // 0.9.2342.19200300.100.1.40
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x29", "MOBILE"), // 0.9.2342.19200300.100.1.41
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x2a", "PAGER"), // 0.9.2342.19200300.100.1.42
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x2b", "CO"),  // 0.9.2342.19200300.100.1.43
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x2c", "UNIQUEIDENTIFIER"), // 0.9.2342.19200300.100.1.44
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x2d", "ORGANIZATIONALSTATUS"), // 0.9.2342.19200300.100.1.45
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x2e", "JANETMAILBOX"), // 0.9.2342.19200300.100.1.46
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x2f", "MAILPREFERENCEOPTION"), // 0.9.2342.19200300.100.1.47
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x30", "BUILDINGNAME"), // 0.9.2342.19200300.100.1.48
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x31", "DSAQUALITY"), // 0.9.2342.19200300.100.1.49
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x32", "SINGLELEVELQUALITY"), // 0.9.2342.19200300.100.1.50
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x33", "SUBTREEMINIMUMQUALITY"), // 0.9.2342.19200300.100.1.51
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x34", "SUBTREEMAXIMUMQUALITY"), // 0.9.2342.19200300.100.1.52
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x35", "PERSONALSIGNATURE"), // 0.9.2342.19200300.100.1.53
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x36", "DITREDIRECT"), // 0.9.2342.19200300.100.1.54
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x37", "AUDIO"), // 0.9.2342.19200300.100.1.55
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x38", "DOCUMENTPUBLISHER"), // 0.9.2342.19200300.100.1.56
    (b"\x09\x92\x26\x89\x93\xf2\x2c\x64\x01\x3c", "JPEGPHOTO"), // 0.9.2342.19200300.100.1.60
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x00", "PKCS-9-MO"), // 1.2.840.113549.1.9.0
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01", "EMAIL"),   // 1.2.840.113549.1.9.1
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x03", "ID-CONTENTTYPE"), // 1.2.840.113549.1.9.3
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x04", "ID-MESSAGEDIGEST"), // 1.2.840.113549.1.9.4
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x05", "ID-SIGNINGTIME"), // 1.2.840.113549.1.9.5
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x06", "ID-COUNTERSIGNATURE"), // 1.2.840.113549.1.9.6
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0c", "PKCS-9-AT-PUBLICKEY"), // 1.2.840.113549.1.9.12
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e", "ID-EXTENSIONREQ"), // 1.2.840.113549.1.9.14
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0f", "SMIMECAPABILITIES"), // 1.2.840.113549.1.9.15
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10", "SMIME"),   // 1.2.840.113549.1.9.16
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x00", "ID-MOD"), // 1.2.840.113549.1.9.16.0
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x00\x4e", "ID-MOD-SHA3-OIDS-2023"), // 1.2.840.113549.1.9.16.0.78
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01", "ID-CT"), // 1.2.840.113549.1.9.16.1
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x01", "ID-CT-RECEIPT"), // 1.2.840.113549.1.9.16.1.1
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x02", "ID-CT-AUTHDATA"), // 1.2.840.113549.1.9.16.1.2
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x04", "ID-CT-TSTINFO"), // 1.2.840.113549.1.9.16.1.4
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x06", "ID-CT-CONTENTINFO"), // 1.2.840.113549.1.9.16.1.6
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x09", "ID-CT-COMPRESSEDDATA"), // 1.2.840.113549.1.9.16.1.9
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x10", "ID-CT-FIRMWAREPACKAGE"), // 1.2.840.113549.1.9.16.1.16
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x14",
        "ID-CT-CONTENTWITHATTRS",
    ), // 1.2.840.113549.1.9.16.1.20
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x01\x15", "ID-CT-ENCKEYWITHID"), // 1.2.840.113549.1.9.16.1.21
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02", "ID-AA"), // 1.2.840.113549.1.9.16.2
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x01", "ID-AA-RECEIPTREQUEST"), // 1.2.840.113549.1.9.16.2.1
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x02", "ID-AA-SECURITYLABEL"), // 1.2.840.113549.1.9.16.2.2
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x03", "ID-AA-MLEXPANDHISTORY"), // 1.2.840.113549.1.9.16.2.3
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x04", "ID-AA-CONTENTHINT"), // 1.2.840.113549.1.9.16.2.4
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x05", "ID-AA-MSGSIGDIGEST"), // 1.2.840.113549.1.9.16.2.5
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x09",
        "ID-AA-EQUIVALENTLABELS",
    ), // 1.2.840.113549.1.9.16.2.9
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x0a",
        "ID-AA-CONTENTREFERENCE",
    ), // 1.2.840.113549.1.9.16.2.10
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x0b", "ID-AA-ENCRYPKEYPREF"), // 1.2.840.113549.1.9.16.2.11
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x0e", "ID-AA-TIMESTAMPTOKEN"), // 1.2.840.113549.1.9.16.2.14
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x22",
        "ID-AA-CMC-UNSIGNEDDATA",
    ), // 1.2.840.113549.1.9.16.2.34
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x25", "ID-AA-DECRYPTKEYID"), // 1.2.840.113549.1.9.16.2.37
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x26", "ID-AA-IMPLCRYPTOALGS"), // 1.2.840.113549.1.9.16.2.38
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x2b",
        "ID-AA-IMPLCOMPRESSALGS",
    ), // 1.2.840.113549.1.9.16.2.43
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x31", "ID-AA-ER-INTERNAL"), // 1.2.840.113549.1.9.16.2.49
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x02\x32", "ID-AA-ER-EXTERNAL"), // 1.2.840.113549.1.9.16.2.50
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x03", "ID-ALG"), // 1.2.840.113549.1.9.16.3
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x03\x05", "ID-ALG-ESDH"), // 1.2.840.113549.1.9.16.3.5
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x03\x06", "ID-ALG-CMS3DESWRAP"), // 1.2.840.113549.1.9.16.3.6
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x03\x07", "ID-ALG-CMSRC2WRAP"), // 1.2.840.113549.1.9.16.3.7
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x03\x08", "ID-ALG-ZLIBCOMPRESS"), // 1.2.840.113549.1.9.16.3.8
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x03\x0a", "ID-ALG-SSDH"), // 1.2.840.113549.1.9.16.3.10
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x04", "ID-CD"), // 1.2.840.113549.1.9.16.4
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x05", "ID-SPQ"), // 1.2.840.113549.1.9.16.5
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x06", "ID-CTI"), // 1.2.840.113549.1.9.16.6
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x07", "ID-TSP"), // 1.2.840.113549.1.9.16.7
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08", "ID-SKD"), // 1.2.840.113549.1.9.16.8
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x01", "ID-SKD-GLUSEKEK"), // 1.2.840.113549.1.9.16.8.1
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x02", "ID-SKD-GLDELETE"), // 1.2.840.113549.1.9.16.8.2
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x03", "ID-SKD-GLADDMEMBER"), // 1.2.840.113549.1.9.16.8.3
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x04", "ID-SKD-GLDELETEMEMBER"), // 1.2.840.113549.1.9.16.8.4
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x05", "ID-SKD-GLREKEY"), // 1.2.840.113549.1.9.16.8.5
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x06", "ID-SKD-GLADDOWNER"), // 1.2.840.113549.1.9.16.8.6
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x07", "ID-SKD-GLREMOVEOWNER"), // 1.2.840.113549.1.9.16.8.7
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x08",
        "ID-SKD-GLKEYCOMPROMISE",
    ), // 1.2.840.113549.1.9.16.8.8
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x09", "ID-SKD-GLKREFRESH"), // 1.2.840.113549.1.9.16.8.9
    (
        b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x0b",
        "ID-SKD-GLAQUERYREQUEST",
    ), // 1.2.840.113549.1.9.16.8.11
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x0d", "ID-SKD-GLPROVIDECERT"), // 1.2.840.113549.1.9.16.8.13
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x0e", "ID-SKD-GLMANAGECERT"), // 1.2.840.113549.1.9.16.8.14
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x08\x0f", "ID-SKD-GLKEY"), // 1.2.840.113549.1.9.16.8.15
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x09", "ID-STI"), // 1.2.840.113549.1.9.16.9
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x0a", "ID-EIT"), // 1.2.840.113549.1.9.16.10
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x0b", "ID-CAP"), // 1.2.840.113549.1.9.16.11
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x10\x0c", "ID-PSKC"), // 1.2.840.113549.1.9.16.12
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x14", "PKCS-9-AT-FRIENDLYNAME"), // 1.2.840.113549.1.9.20
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x15", "PKCS-9-AT-LOCALKEYID"), // 1.2.840.113549.1.9.21
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x16", "CERTTYPES"), // 1.2.840.113549.1.9.22
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x17", "CRLTYPES"), // 1.2.840.113549.1.9.23
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x18", "PKCS-9-OC"), // 1.2.840.113549.1.9.24
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x18\x01", "PKCS-9-OC-PKCSENTITY"), // 1.2.840.113549.1.9.24.1
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x19", "PKCS-9-AT"), // 1.2.840.113549.1.9.25
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x19\x01", "PKCS-9-AT-PKCS15TOKEN"), // 1.2.840.113549.1.9.25.1
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x19\x03", "PKCS-9-AT-RANDOMNONCE"), // 1.2.840.113549.1.9.25.3
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x19\x05", "PKCS-9-AT-PKCS7PDU"), // 1.2.840.113549.1.9.25.5
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x1a", "PKCS-9-SX"), // 1.2.840.113549.1.9.26
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x1a\x01", "PKCS-9-SX-PKCS9STRING"), // 1.2.840.113549.1.9.26.1
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x1a\x02", "PKCS-9-SX-SIGNINGTIME"), // 1.2.840.113549.1.9.26.2
    (b"\x2a\x86\x48\x86\xf7\x0d\x01\x09\x1b", "PKCS-9-MR"), // 1.2.840.113549.1.9.27
    (b"\x55\x04\x00", "OBJECTCLASS"),                     // 2.5.4.0
    (b"\x55\x04\x01", "ALIASEDOBJECTNAME"),               // 2.5.4.1
    (b"\x55\x04\x02", "KNOWLEDGEINFORMATION"),            // 2.5.4.2
    (b"\x55\x04\x03", "CN"),                              // 2.5.4.3
    (b"\x55\x04\x04", "SN"),                              // 2.5.4.4
    (b"\x55\x04\x05", "SERIALNUMBER"),                    // 2.5.4.5
    (b"\x55\x04\x06", "C"),                               // 2.5.4.6
    (b"\x55\x04\x07", "L"),                               // 2.5.4.7
    (b"\x55\x04\x07\x01", "C-L"),                         // 2.5.4.7.1
    (b"\x55\x04\x08", "ST"),                              // 2.5.4.8
    (b"\x55\x04\x08\x01", "C-ST"),                        // 2.5.4.8.1
    (b"\x55\x04\x09", "STREET"),                          // 2.5.4.9
    (b"\x55\x04\x09\x01", "C-STREET"),                    // 2.5.4.9.1
    (b"\x55\x04\x0a", "O"),                               // 2.5.4.10
    (b"\x55\x04\x0a\x01", "C-O"),                         // 2.5.4.10.1
    (b"\x55\x04\x0b", "OU"),                              // 2.5.4.11
    (b"\x55\x04\x0b\x01", "C-OU"),                        // 2.5.4.11.1
    (b"\x55\x04\x0c", "TITLE"),                           // 2.5.4.12
    (b"\x55\x04\x0d", "DESCRIPTION"),                     // 2.5.4.13
    (b"\x55\x04\x0e", "SEARCHGUIDE"),                     // 2.5.4.14
    (b"\x55\x04\x0f", "BUSINESSCATEGORY"),                // 2.5.4.15
    (b"\x55\x04\x10", "POSTALADDRESS"),                   // 2.5.4.16
    (b"\x55\x04\x10\x01", "C-POSTALADDRESS"),             // 2.5.4.16.1
    (b"\x55\x04\x11", "POSTALCODE"),                      // 2.5.4.17
    (b"\x55\x04\x11\x01", "C-POSTALCODE"),                // 2.5.4.17.1
    (b"\x55\x04\x12", "POSTOFFICEBOX"),                   // 2.5.4.18
    (b"\x55\x04\x12\x01", "C-POSTOFFICEBOX"),             // 2.5.4.18.1
    (b"\x55\x04\x14", "TELEPHONENUMBER"),                 // 2.5.4.20
    (b"\x55\x04\x14\x01", "C-TELEPHONENUMBER"),           // 2.5.4.20.1
    (b"\x55\x04\x15", "TELEXNUMBER"),                     // 2.5.4.21
    (b"\x55\x04\x15\x01", "C-TELEXNUMBER"),               // 2.5.4.21.1
    (b"\x55\x04\x18", "X121ADDRESS"),                     // 2.5.4.24
    (b"\x55\x04\x1a", "REGISTEREDADDRESS"),               // 2.5.4.26
    (b"\x55\x04\x1b", "DESTINATIONINDICATOR"),            // 2.5.4.27
    (b"\x55\x04\x1d", "PRESENTATIONADDRESS"),             // 2.5.4.29
    (b"\x55\x04\x1f", "MEMBER"),                          // 2.5.4.31
    (b"\x55\x04\x20", "OWNER"),                           // 2.5.4.32
    (b"\x55\x04\x21", "ROLEOCCUPANT"),                    // 2.5.4.33
    (b"\x55\x04\x22", "SEEALSO"),                         // 2.5.4.34
    (b"\x55\x04\x23", "USERPASSWORD"),                    // 2.5.4.35
    (b"\x55\x04\x24", "USERCERTIFICATE"),                 // 2.5.4.36
    (b"\x55\x04\x25", "CACERTIFICATE"),                   // 2.5.4.37
    (b"\x55\x04\x28", "CROSSCERTIFICATEPAIR"),            // 2.5.4.40
    (b"\x55\x04\x29", "NAME"),                            // 2.5.4.41
    (b"\x55\x04\x2a", "GN"),                              // 2.5.4.42
    (b"\x55\x04\x2b", "INITIALS"),                        // 2.5.4.43
    (b"\x55\x04\x2c", "GENERATIONQUALIFIER"),             // 2.5.4.44
    (b"\x55\x04\x2d", "X500UNIQUEIDENTIFIER"),            // 2.5.4.45
    (b"\x55\x04\x2e", "DNQUALIFIER"),                     // 2.5.4.46
    (b"\x55\x04\x2f", "ENHANCEDSEARCHGUIDE"),             // 2.5.4.47
    (b"\x55\x04\x30", "PROTOCOLINFORMATION"),             // 2.5.4.48
    (b"\x55\x04\x31", "DISTINGUISHEDNAME"),               // 2.5.4.49
    (b"\x55\x04\x32", "UNIQUEMEMBER"),                    // 2.5.4.50
    (b"\x55\x04\x33", "HOUSEIDENTIFIER"),                 // 2.5.4.51
    (b"\x55\x04\x34", "SUPPORTEDALGORITHMS"),             // 2.5.4.52
    (b"\x55\x04\x35", "DELTAREVOCATIONLIST"),             // 2.5.4.53
    (b"\x55\x04\x36", "DMDNAME"),                         // 2.5.4.54
    (b"\x55\x04\x41", "PSEUDONYM"),                       // 2.5.4.65
    (b"\x55\x04\x48", "ID-AT-ROLE"),                      // 2.5.4.72
];

/// `name` as text, the last RDN first.
pub fn name_string(name: &Name) -> String {
    let mut out = String::new();
    for (i, rdn) in name.as_ref().iter().collect::<Vec<_>>().into_iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            attribute(atv, &mut out);
        }
    }
    out
}

fn attribute(atv: &AttributeTypeAndValue, out: &mut String) {
    let value = &atv.value;
    let text = match value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::Utf8String => Utf8StringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::Ia5String => Ia5StringRef::try_from(value).ok().map(|s| s.as_str()),
        Tag::TeletexString => TeletexStringRef::try_from(value).ok().map(|s| s.as_str()),
        _ => None,
    };
    let short = SHORT_NAMES
        .iter()
        .find(|(arcs, _)| *arcs == atv.oid.as_bytes())
        .map(|(_, n)| *n);
    match (short, text) {
        (Some(key), Some(text)) => {
            out.push_str(key);
            out.push('=');
            let mut chars = text.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                match c {
                    '#' if i == 0 => out.push_str("\\#"),
                    ' ' if i == 0 || chars.peek().is_none() => out.push_str("\\ "),
                    '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    '\x00'..='\x1f' | '\x7f' => {
                        let _ = write!(out, "\\{:02x}", c as u8);
                    }
                    _ => out.push(c),
                }
            }
        }
        _ => {
            let _ = write!(out, "{}=#", atv.oid);
            for b in value.to_der().unwrap_or_default() {
                let _ = write!(out, "{b:02x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use der::asn1::{Any, Ia5String, ObjectIdentifier, OctetString, PrintableString, SetOfVec, Utf8StringRef};
    use der::{Decode, Encode};
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

    use super::{SHORT_NAMES, name_string};

    fn oid_of(arcs: &[u8]) -> ObjectIdentifier {
        ObjectIdentifier::from_bytes(arcs).unwrap()
    }

    fn name(rdns: Vec<Vec<(ObjectIdentifier, Any)>>) -> Name {
        let mut seq = RdnSequence::default();
        for rdn in rdns {
            let set: SetOfVec<AttributeTypeAndValue> = rdn
                .into_iter()
                .map(|(oid, value)| AttributeTypeAndValue { oid, value })
                .collect::<Vec<_>>()
                .try_into()
                .unwrap();
            seq.push(RelativeDistinguishedName::from(set));
        }
        Name::from_der(&seq.to_der().unwrap()).unwrap()
    }

    fn utf8(s: &str) -> Any {
        Any::encode_from(&Utf8StringRef::new(s).unwrap()).unwrap()
    }

    /// Every type named here, with each kind of value and every escape,
    /// reads as x509-cert's `Display` writes it.
    #[test]
    fn names_read_as_x509_cert_writes_them() {
        let values = [
            utf8("etcd-ca"),
            utf8("#lead, \"quoted\" + <a;b> back\\slash "),
            utf8(" lead and\x01control\x7f"),
            Any::encode_from(&PrintableString::new("Example Org").unwrap()).unwrap(),
            Any::encode_from(&Ia5String::new("ops@example.com").unwrap()).unwrap(),
            Any::encode_from(&OctetString::new(vec![1, 2, 255]).unwrap()).unwrap(),
            Any::encode_from(&7u32).unwrap(),
        ];
        let mut oids: Vec<ObjectIdentifier> = SHORT_NAMES.iter().map(|(arcs, _)| oid_of(arcs)).collect();
        // Not a type x509-cert names: both write the dotted OID.
        oids.push(ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1"));
        for oid in &oids {
            for value in &values {
                let n = name(vec![vec![(*oid, value.clone())]]);
                assert_eq!(name_string(&n), n.to_string(), "{oid}");
            }
        }
        // Several RDNs (written last first), and several values in one.
        let cn = ObjectIdentifier::new_unwrap("2.5.4.3");
        let o = ObjectIdentifier::new_unwrap("2.5.4.10");
        let ou = ObjectIdentifier::new_unwrap("2.5.4.11");
        let n = name(vec![
            vec![(o, utf8("meshbundle"))],
            vec![(ou, utf8("mesh")), (cn, utf8("root"))],
            vec![(cn, utf8("x"))],
        ]);
        assert_eq!(name_string(&n), n.to_string());
        let parsed = Name::from_str("CN=istio-ca,O=meshbundle,C=DE").unwrap();
        assert_eq!(name_string(&parsed), parsed.to_string());
        assert_eq!(name_string(&parsed), "CN=istio-ca,O=meshbundle,C=DE");
    }
}
