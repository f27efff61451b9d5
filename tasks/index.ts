import "./channels";
import "./demo";
import "./deploy";
import "./devices";
import "./network";
import "./token";
import "./wallets";
